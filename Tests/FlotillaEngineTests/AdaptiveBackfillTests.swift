import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Backfills with `target_batch_time` on a real PostgreSQL. A trigger on the table logs, for every row a batch
/// updates, the batch's transaction: the sizes the batches really had, in order, are read back from that log.
@Suite("Adaptive backfill", .heavy)
struct AdaptiveBackfillTests {
    /// One tenant `a1` whose `users` has `score` to fill and a trigger that logs each row a batch updates (and sleeps
    /// `sleep` seconds per row, when given); returns the rig and the tenant's probe.
    func tenant(rows: Int, sleep: Double?) async throws -> (Rig, TenantProbe) {
        let (rig, probe, _) = try await tenantOnShard(rows: rows, sleep: sleep)
        return (rig, probe)
    }

    func tenantOnShard(rows: Int, sleep: Double?) async throws -> (Rig, TenantProbe, ConnectionURL) {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "adaptive")
        let tenants = [schemaTenant("a1", shard: "a")]
        let pause = sleep.map { "PERFORM pg_sleep(\($0));" } ?? ""
        try createSchemaTenants(
            shard, schemas: ["tenant_a1"], rows: rows,
            extra: """
                ALTER TABLE tenant_a1.users ADD COLUMN score bigint;
                CREATE TABLE tenant_a1.batch_log (id bigserial PRIMARY KEY, xid bigint NOT NULL, user_id bigint NOT NULL);
                CREATE FUNCTION tenant_a1.log_batch() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    \(pause)
                    INSERT INTO tenant_a1.batch_log (xid, user_id) VALUES (txid_current(), NEW.id);
                    RETURN NEW;
                END $$;
                CREATE TRIGGER log_batch BEFORE UPDATE ON tenant_a1.users
                    FOR EACH ROW EXECUTE FUNCTION tenant_a1.log_batch();
                """)
        let rig = try await Rig(fleet: makeFleet(name: "adaptive", shards: [("a", shard)], tenants: tenants))
        return (rig, TenantProbe(shard: shard, schema: "tenant_a1"), shard)
    }

    func change(_ sizing: String) throws -> Change {
        try parseChange(
            """
            change: 0001_score
            phases:
              - name: fill
                backfill: {table: users, set: "score = id", where: "score IS NULL", \(sizing)}
            """)
    }

    @Test("plan shows how the batches are sized")
    func planShowsSizing() throws {
        let timed = try #require(
            try change("target_batch_time: 50ms, max_batch: 2000").phases.first?.backfill)
        // The comment lines joined back into sentences.
        func prose(_ backfill: Backfill) -> String {
            BackfillSQL.describe(backfill).replacingOccurrences(of: "\n-- ", with: " ")
        }
        let text = prose(timed)
        #expect(
            text.contains("batches sized to take 50ms each: 10 rows first"), "\(text)")
        #expect(text.contains("growing by at most 20% a batch, within 10 to 2000 rows"), "\(text)")
        let fixed = try #require(try change("batch_size: 500").phases.first?.backfill)
        #expect(prose(fixed).contains("$2 batch size (at most 500, smaller while batches hold"))
    }

    static let policy = "policy: all\nwaves:\n  - {name: all, select: {remaining: true}}\nstatement_timeout: 5m\n"

    /// The rows each batch updated, in the order the batches ran.
    func batchSizes(_ probe: TenantProbe) throws -> [Int] {
        lines(try probe.query("SELECT count(*) FROM batch_log GROUP BY xid ORDER BY min(id)")).compactMap { Int($0) }
    }

    /// Every row filled, and updated by exactly one batch.
    func expectEveryRowOnce(_ probe: TenantProbe, rows: Int) throws {
        #expect(try probe.query("SELECT count(*) FROM users WHERE score IS DISTINCT FROM id") == "0")
        #expect(try probe.query("SELECT count(*), count(DISTINCT user_id) FROM batch_log") == "\(rows)|\(rows)")
    }

    func finished(_ rig: Rig) throws -> String {
        try rig.journal("SELECT message FROM flotilla.events WHERE kind = 'backfill-finished' AND phase = 'fill'")
    }

    @Test(
        "batches that run over a tiny target shrink in proportion, and stay at or under what fits in it",
        .timeLimit(.minutes(10)))
    func shrinks() async throws {
        let rows = 300
        let (rig, probe) = try await tenant(rows: rows, sleep: 0.002)
        // Each row takes at least 2 ms, so a batch of k rows takes at least 2k ms: after the first batch of 100
        // (≥ 200 ms against 20 ms) every next batch is at most k × 20/2k = 10 rows.
        let outcome = try await rig.rollout(
            change("batch_size: 100, target_batch_time: 20ms, min_batch: 2, max_batch: 1000"),
            parsePolicy(Self.policy))
        #expect(outcome.exitCode == 0, "\(outcome)")
        let sizes = try batchSizes(probe)
        #expect(sizes.first == 100, "\(sizes)")
        #expect(sizes.count > 10, "\(sizes)")
        #expect(sizes.dropFirst().allSatisfy { $0 <= 10 }, "\(sizes)")
        #expect(sizes.dropFirst().dropLast().allSatisfy { $0 >= 2 }, "never under min_batch: \(sizes)")
        #expect(sizes.reduce(0, +) == rows)
        try expectEveryRowOnce(probe, rows: rows)
        let message = try finished(rig)
        #expect(message.contains("\(rows) rows in"), "\(message)")
        #expect(message.contains("sized to 20ms a batch: first 100"), "\(message)")
        #expect(message.contains("largest 100") && message.contains("min 2, max 1000"), "\(message)")
        let smallest = message.firstMatch(of: /smallest (\d+)/).flatMap { Int($0.1) }
        #expect(smallest.map { $0 <= 10 } == true, "\(message)")
    }

    @Test(
        "batches well under a generous target grow by at most 20% each, up to max_batch",
        .timeLimit(.minutes(10)))
    func grows() async throws {
        let rows = 700
        let (rig, probe) = try await tenant(rows: rows, sleep: nil)
        let outcome = try await rig.rollout(
            change("target_batch_time: 30s, min_batch: 10, max_batch: 60"), parsePolicy(Self.policy))
        #expect(outcome.exitCode == 0, "\(outcome)")
        let sizes = try batchSizes(probe)
        // Without batch_size the first batch is min_batch; every full batch then grows by 20% (at least one row).
        var expected = [10]
        while expected.reduce(0, +) < rows {
            let last = expected.last!
            expected.append(min(60, max(last + 1, last * 12 / 10)))
        }
        expected[expected.count - 1] -= expected.reduce(0, +) - rows  // the last batch takes what is left
        #expect(sizes == expected)
        #expect(Array(expected.prefix(12)) == [10, 12, 14, 16, 19, 22, 26, 31, 37, 44, 52, 60])
        try expectEveryRowOnce(probe, rows: rows)
        let message = try finished(rig)
        #expect(message.contains("first 10, smallest 10, largest 60, final 60"), "\(message)")
    }

    @Test(
        "the shard's throttle pauses a backfill between batches; it goes on, every row once, when the shard is clear",
        .timeLimit(.minutes(10)))
    func throttlePausesBetweenBatches() async throws {
        let rows = 300
        let (rig, probe, shard) = try await tenantOnShard(rows: rows, sleep: 0.005)
        _ = try psql(shard, "CREATE TABLE public.health (load int); INSERT INTO public.health VALUES (0)")
        let policy = try parsePolicy(
            Self.policy
                + "throttle:\n  interval: 200ms\n  signals:\n"
                + "    - {sql: \"SELECT load FROM public.health\", name: app_load, pause_above: 5}\n")
        let run = Task {
            try await rig.rollout(change("batch_size: 10, target_batch_time: 1s, max_batch: 10"), policy)
        }
        let logged = { Int(try probe.query("SELECT count(*) FROM batch_log")) ?? -1 }
        #expect(try await eventually(within: .seconds(120)) { try logged() >= 30 })
        _ = try psql(shard, "UPDATE public.health SET load = 10")
        #expect(
            try await eventually {
                try rig.journal("SELECT count(*) FROM flotilla.events WHERE kind = 'throttled'") == "1"
            })
        // Paused: at most the batch that was running when the signal rose finishes, then no batch starts.
        let paused = try logged()
        try await Task.sleep(for: .seconds(2))
        let later = try logged()
        #expect(later - paused <= 10 && later < rows, "\(paused) → \(later) rows while the shard was throttled")
        _ = try psql(shard, "UPDATE public.health SET load = 0")
        let outcome = try await run.value
        #expect(outcome.exitCode == 0, "\(outcome)")
        try expectEveryRowOnce(probe, rows: rows)
        let message = try finished(rig)
        // Once for the raised signal; a reading that failed under load (unknown: pause) may add a short wait or two.
        #expect(message.contains("for the shard's throttle ("), "\(message)")
        let waited = message.firstMatch(of: /waited (\d+) ms/).flatMap { Int($0.1) }
        #expect(waited.map { $0 >= 1500 } == true, "\(message)")
    }
}
