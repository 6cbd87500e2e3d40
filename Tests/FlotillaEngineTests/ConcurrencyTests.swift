import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Caps, locks and retries, observed from PostgreSQL's side.
struct ConcurrencyTests {
    /// A phase whose step records, in the shard's `public.spans`, when its tenant's step began and ended: the
    /// overlaps are read afterwards from PostgreSQL's own clock, so a busy machine cannot hide them from a sampler.
    ///
    /// Between the two, the step waits (up to 30 s) until `quorum` steps hold the shared advisory lock `key` — all
    /// shards of a test are databases of one cluster, and `pg_locks` sees them all (`sameDatabase` counts only this
    /// shard's) — then sleeps half a second. So the caps are reached however slowly a loaded machine starts steps,
    /// and a step that ran beyond a cap would still be seen overlapping.
    static func spanChange(key: Int, quorum: Int, sameDatabase: Bool) throws -> Change {
        let database =
            sameDatabase ? "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())" : ""
        return try parseChange(
            """
            change: 0001_slow
            phases:
              - name: slow
                up: |
                  INSERT INTO public.spans (tenant, started) VALUES (current_schema(), clock_timestamp());
                  SELECT pg_advisory_xact_lock_shared(\(key));
                  DO $$ DECLARE waited int := 0; BEGIN
                    WHILE waited < 600 AND (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                          AND objid = \(key) AND objsubid = 1 AND granted \(database)) < \(quorum) LOOP
                      PERFORM pg_sleep(0.05);
                      waited := waited + 1;
                    END LOOP;
                  END $$;
                  SELECT pg_sleep(0.5);
                  UPDATE public.spans SET ended = clock_timestamp() WHERE tenant = current_schema();
                  ALTER TABLE users ADD COLUMN slow boolean;
                down: ALTER TABLE users DROP COLUMN slow;
            """)
    }

    /// A lock key no other test uses at the same time.
    static func barrierKey() -> Int { Int.random(in: 1_000_000...2_000_000_000) }

    static let spansTable =
        "CREATE TABLE public.spans (tenant text PRIMARY KEY, started timestamptz, ended timestamptz);"

    /// The committed spans of a shard, as seconds since the epoch.
    static func spans(_ shard: ConnectionURL) throws -> [(start: Double, end: Double)] {
        lines(try psql(shard, "SELECT extract(epoch FROM started), extract(epoch FROM ended) FROM public.spans"))
            .compactMap { line in
                let columns = line.split(separator: "|").compactMap { Double($0) }
                return columns.count == 2 ? (columns[0], columns[1]) : nil
            }
    }

    /// The largest number of spans open at one instant.
    static func maxOverlap(_ spans: [(start: Double, end: Double)]) -> Int {
        // Ends sort before starts at the same instant: a step that ended as another began did not overlap it.
        var edges: [(at: Double, delta: Int)] = []
        for span in spans {
            edges.append((span.start, 1))
            edges.append((span.end, -1))
        }
        edges.sort { left, right in left.at < right.at || (left.at == right.at && left.delta < right.delta) }
        var open = 0
        var peak = 0
        for edge in edges {
            open += edge.delta
            peak = max(peak, open)
        }
        return peak
    }

    @Test(.timeLimit(.minutes(10)))
    func perShardAndGlobalCapsHold() async throws {
        let shardA = try await TestCluster.shared.freshDatabase(prefix: "caps_a")
        let shardB = try await TestCluster.shared.freshDatabase(prefix: "caps_b")
        let tenants = (1...24).map { schemaTenant(String(format: "c%02d", $0), shard: $0 % 2 == 1 ? "a" : "b") }
        try createSchemaTenants(
            shardA, schemas: tenants.filter { $0.shard == "a" }.map(\.placement.name), rows: 1, extra: Self.spansTable)
        try createSchemaTenants(
            shardB, schemas: tenants.filter { $0.shard == "b" }.map(\.placement.name), rows: 1, extra: Self.spansTable)
        let fleet = makeFleet(name: "caps-fleet", shards: [("a", shardA), ("b", shardB)], tenants: tenants)
        let policy = try parsePolicy(
            """
            policy: capped
            waves:
              - {name: all, select: {remaining: true}}
            parallel: 8
            per_shard_parallel: 2
            """)
        let rig = try await Rig(fleet: fleet)
        let outcome = try await rig.rollout(
            try Self.spanChange(key: Self.barrierKey(), quorum: 2, sameDatabase: true), policy)
        guard case .done = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        let spansA = try Self.spans(shardA)
        let spansB = try Self.spans(shardB)
        #expect(spansA.count == 12 && spansB.count == 12)
        let peakA = Self.maxOverlap(spansA)
        let peakB = Self.maxOverlap(spansB)
        #expect(peakA <= 2 && peakB <= 2, "shards ran \(peakA) and \(peakB) at once with per_shard_parallel: 2")
        // Each step waits for a second one on its shard: the cap must be reached, else the test shows nothing.
        #expect(peakA == 2 && peakB == 2, "the per-shard cap was reached: a \(peakA), b \(peakB)")
        #expect(Self.maxOverlap(spansA + spansB) <= 4)
        for tenant in tenants {
            #expect(
                try TenantProbe(shard: tenant.shard == "a" ? shardA : shardB, schema: tenant.placement.name).columnType(
                    "slow") == "boolean")
        }
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'applied'") == "24")
    }

    @Test(.timeLimit(.minutes(10)))
    func globalCapHoldsAcrossShards() async throws {
        let shards = try await [
            TestCluster.shared.freshDatabase(prefix: "gcap_a"), TestCluster.shared.freshDatabase(prefix: "gcap_b"),
            TestCluster.shared.freshDatabase(prefix: "gcap_c"),
        ]
        let names = ["a", "b", "c"]
        let tenants = (1...9).map { schemaTenant(String(format: "g%02d", $0), shard: names[$0 % 3]) }
        for (index, shard) in shards.enumerated() {
            try createSchemaTenants(
                shard, schemas: tenants.filter { $0.shard == names[index] }.map(\.placement.name), rows: 1,
                extra: Self.spansTable)
        }
        let fleet = makeFleet(
            name: "gcap-fleet", shards: Array(zip(names, shards)).map { ($0.0, $0.1) }, tenants: tenants)
        let policy = try parsePolicy(
            """
            policy: capped
            waves:
              - {name: all, select: {remaining: true}}
            parallel: 3
            per_shard_parallel: 2
            """)
        let rig = try await Rig(fleet: fleet)
        let outcome = try await rig.rollout(
            try Self.spanChange(key: Self.barrierKey(), quorum: 3, sameDatabase: false), policy)
        #expect(outcome.exitCode == 0)
        let spans = try shards.flatMap { try Self.spans($0) }
        #expect(spans.count == 9)
        // Each step waits until three hold the barrier, so three overlap unless the engine never runs three.
        let peak = Self.maxOverlap(spans)
        #expect(peak <= 3, "\(peak) tenant steps ran at once with parallel: 3")
        #expect(peak == 3, "the global cap was reached: \(peak)")
    }

    static let addScore = """
        change: 0001_score
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN score integer;
            down: ALTER TABLE users DROP COLUMN score;
        """

    /// Two tenants; `l1`'s users table is locked by another session until `release` says so.
    func lockedFleet(_ name: String) async throws -> (Rig, ConnectionURL, SideSession) {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "lock")
        let tenants = ["l1", "l2"].map { schemaTenant($0, shard: "a") }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 3)
        let holder = try await SideSession.open(shard)
        try await holder.execute("BEGIN")
        try await holder.execute("LOCK TABLE tenant_l1.users IN ACCESS EXCLUSIVE MODE")
        return (try await Rig(fleet: makeFleet(name: name, shards: [("a", shard)], tenants: tenants)), shard, holder)
    }

    @Test(.timeLimit(.minutes(10)))
    func lockTimeoutIsRetriedUntilTheLockGoes() async throws {
        let (rig, shard, holder) = try await lockedFleet("lock-retry-fleet")
        let policy = try parsePolicy(
            """
            policy: patient
            waves:
              - {name: all, select: {remaining: true}}
            lock_timeout: 300ms
            retries: {attempts: 5, backoff: 200ms}
            """)
        // The lock goes ~1.5 s in, and in any case only after the first lock timeout was seen (a slow start
        // under load must not let the first attempt through: in a full suite on two cores the rollout may take more
        // than a minute to reach its first step).
        let events = EventLog()
        let release = Task {
            let started = ContinuousClock.now
            _ = try await eventually(within: .seconds(400), every: .milliseconds(20)) {
                events.all.contains { if case .stepRetry = $0 { return true } else { return false } }
            }
            try await Task.sleep(until: max(started + .milliseconds(1500), ContinuousClock.now + .milliseconds(300)))
            try await holder.execute("COMMIT")
        }
        let outcome: RolloutOutcome
        do {
            outcome = try await rig.rollout(try parseChange(Self.addScore), policy, events: events)
        } catch {
            release.cancel()
            await holder.close()
            throw error
        }
        try await release.value
        await holder.close()
        guard case .done = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        let steps = try rig.steps(phase: "expand")
        #expect(steps["l1"]?.state == "applied")
        #expect((steps["l1"]?.attempts ?? 0) > 1, "attempts: \(steps["l1"]?.attempts ?? 0)")
        #expect((steps["l1"]?.attempts ?? 0) <= 5)
        #expect(steps["l2"]?.attempts == 1)
        #expect(try TenantProbe(shard: shard, schema: "tenant_l1").columnType("score") == "integer")
        #expect(try TenantProbe(shard: shard, schema: "tenant_l1").liveLedger(change: "0001_score").count == 1)
        let retries = lines(
            try rig.journal("SELECT tenant || '|' || message FROM flotilla.events WHERE kind = 'retry'"))
        #expect(!retries.isEmpty)
        #expect(retries.allSatisfy { $0.hasPrefix("l1|") && $0.contains("55P03") }, "\(retries)")
        #expect(retries.count == (steps["l1"]?.attempts ?? 0) - 1)
        #expect(events.all.contains { if case .stepRetry(_, "l1", _, _) = $0 { return true } else { return false } })
    }

    @Test(.timeLimit(.minutes(10)))
    func lockHeldLongerThanAllAttemptsFailsWith55P03() async throws {
        let (rig, shard, holder) = try await lockedFleet("lock-fail-fleet")
        let policy = try parsePolicy(
            """
            policy: impatient
            waves:
              - {name: all, select: {remaining: true}}
            lock_timeout: 200ms
            retries: {attempts: 3, backoff: 100ms}
            on_failure: revert
            """)
        let outcome: RolloutOutcome
        do {
            outcome = try await rig.rollout(try parseChange(Self.addScore), policy)
        } catch {
            await holder.close()
            throw error
        }
        // The lock is still held: it outlived every attempt.
        #expect(
            try psql(
                shard,
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'users' AND l.mode = 'AccessExclusiveLock' AND l.granted"
            ) == "1")
        try await holder.execute("ROLLBACK")
        await holder.close()
        guard case .reverted = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 3)
        let steps = try rig.steps(phase: "expand")
        #expect(steps["l1"]?.state == "failed")
        #expect(steps["l1"]?.sqlState == "55P03")
        #expect(steps["l1"]?.attempts == 3)
        #expect(steps["l2"]?.state == "reverted")
        #expect(try TenantProbe(shard: shard, schema: "tenant_l1").columnType("score") == nil)
        #expect(try TenantProbe(shard: shard, schema: "tenant_l2").columnType("score") == nil)
        #expect(try rig.journal("SELECT count(*) FROM flotilla.events WHERE kind = 'retry' AND tenant = 'l1'") == "2")
    }
}
