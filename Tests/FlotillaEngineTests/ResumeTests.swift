import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Interrupted rollouts: a cancelled backfill, a cancelled coordinator, an unreachable shard.
struct ResumeTests {
    struct Interrupted: Sendable {
        var reached: Bool
        var result: Result<RolloutOutcome, any Error>
    }

    @Test(.timeLimit(.minutes(10)))
    func backfillResumesFromItsCheckpoint() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "bf")
        let tenant = schemaTenant("b1", shard: "a")
        try createSchemaTenants(
            shard, schemas: ["tenant_b1"], rows: 200,
            extra: """
                ALTER TABLE tenant_b1.users ADD COLUMN v bigint, ADD COLUMN touched integer NOT NULL DEFAULT 0;
                CREATE FUNCTION tenant_b1.count_touch() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN NEW.touched := OLD.touched + 1; RETURN NEW; END $$;
                CREATE TRIGGER count_touch BEFORE UPDATE ON tenant_b1.users FOR EACH ROW EXECUTE FUNCTION tenant_b1.count_touch();
                """)
        let fleet = makeFleet(name: "backfill-fleet", shards: [("a", shard)], tenants: [tenant])
        // No `where`: a backfill that started over would update the first rows twice.
        let change = try parseChange(
            """
            change: 0001_fill
            phases:
              - name: fill
                backfill: {table: users, set: "v = id * 3", batch_size: 10, pause: 100ms}
            """)
        let policy = try parsePolicy(
            """
            policy: one
            waves:
              - {name: all, select: {remaining: true}}
            """)
        let rig = try await Rig(fleet: fleet)
        let probe = TenantProbe(shard: shard, schema: "tenant_b1")

        // Only the rollout's task is cancelled; the pools keep running until it has unwound. (Cancelling the pools
        // together with the rollout can hang forever: see cancellingARolloutEndsPromptly.)
        let plan = try makePlan(fleet, change, policy)
        let interrupted = try await rig.withEngine { engine, _, _ in
            let run = Task { try await engine.run(change: change, policy: policy, plan: plan) }
            let reached = try await eventually(every: .milliseconds(20)) {
                // The checkpoint lives in the tenant, beside its ledger; the table appears with the first batch.
                let text = try? probe.query("SELECT coalesce(max(last_key), 0) FROM flotilla_backfill")
                return (Int(text ?? "") ?? 0) >= 30
            }
            run.cancel()
            return Interrupted(reached: reached, result: await run.result)
        }
        #expect(interrupted.reached)
        if case .success(let outcome) = interrupted.result {
            Issue.record("the run finished before it was cancelled: \(outcome)")
        }

        let checkpoint = try #require(
            Int(try probe.query("SELECT last_key FROM flotilla_backfill WHERE change = '0001_fill' AND phase = 'fill'"))
        )
        #expect(checkpoint > 0 && checkpoint < 200, "checkpoint \(checkpoint)")
        #expect(checkpoint % 10 == 0, "checkpoints fall on batch ends: \(checkpoint)")
        // Exactly the rows up to the checkpoint were done, once; the rest not yet.
        #expect(try probe.query("SELECT count(*) FROM users WHERE touched > 0") == "\(checkpoint)")
        #expect(try probe.query("SELECT coalesce(max(id), 0) FROM users WHERE touched > 0") == "\(checkpoint)")
        #expect(try probe.query("SELECT max(touched) FROM users") == "1")
        #expect(try probe.ledger(change: change.id).isEmpty)
        #expect(try rig.journal("SELECT state IN ('running') FROM flotilla.rollouts") == "t")

        let second = try await rig.rollout(change, policy)
        guard case .done = second else {
            Issue.record("expected done, got \(second)")
            return
        }
        #expect(try probe.query("SELECT count(*) FROM users WHERE v IS DISTINCT FROM id * 3") == "0")
        #expect(
            try probe.query("SELECT min(touched) || '|' || max(touched) FROM users") == "1|1",
            "every row updated exactly once")
        #expect(try probe.liveLedger(change: change.id).map(\.phase) == ["fill"])
        #expect(try rig.journal("SELECT state FROM flotilla.steps") == "applied")
        // The checkpoint is forgotten in the same transaction as the ledger row.
        #expect(try probe.query("SELECT count(*) FROM flotilla_backfill") == "0")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.rollouts") == "1")
        #expect(try rig.eventKinds().contains("resumed"))
    }

    @Test(.timeLimit(.minutes(10)))
    func unreachableShardIsNamedWithoutItsPassword() async throws {
        let good = try await TestCluster.shared.freshDatabase(prefix: "pre")
        let fleet = Fleet(
            name: "preflight-fleet",
            // The bad shard first: preflight reaches it at once, so the time measured is its refusal alone, not a
            // connection to the good one on a machine loaded by the whole suite.
            shards: [
                Shard(
                    name: "bad-shard",
                    url: "postgres://flotilla:s3cret-pass@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=3",
                    location: here),
                Shard(name: "good-shard", url: postgresURL(good), location: here),
            ],
            tenants: [
                schemaTenant("x1", shard: "good-shard"), schemaTenant("x2", shard: "bad-shard"),
            ])
        let connections = try FleetConnections(
            fleet: fleet, embedded: nil, environment: [:], deadlines: testDeadlines, logger: engineTestLogger)
        let started = ContinuousClock.now
        let failure: (any Error)? = await {
            do {
                try await connections.run { try await connections.preflight() }
                return nil
            } catch {
                return error
            }
        }()
        let error = try #require(failure, "preflight must fail on an unreachable shard")
        let text = "\(error)"
        #expect(text.contains("bad-shard"), "\(text)")
        #expect(!text.contains("good-shard"), "\(text)")
        #expect(!text.contains("s3cret-pass"), "\(text)")
        #expect(String(reflecting: error).contains("s3cret-pass") == false)
        #expect((error as? ShardError)?.shard == "bad-shard")
        #expect(ContinuousClock.now - started < .seconds(30))

        // The right server with a wrong password: PostgreSQL refuses, the error names the shard, not the password.
        var wrong = good
        wrong.password = "s3cret-pass"
        let refused = Fleet(
            name: "preflight-fleet3",
            shards: [Shard(name: "wrong-password-shard", url: postgresURL(wrong), location: here)],
            tenants: [schemaTenant("z1", shard: "wrong-password-shard")])
        let refusedConnections = try FleetConnections(
            fleet: refused, embedded: nil, environment: [:], logger: engineTestLogger)
        let refusal: (any Error)? = await {
            do {
                try await refusedConnections.run { try await refusedConnections.preflight() }
                return nil
            } catch {
                return error
            }
        }()
        let refusedError = try #require(refusal, "preflight must fail with a wrong password")
        #expect("\(refusedError)".contains("wrong-password-shard"), "\(refusedError)")
        #expect(!"\(refusedError)".contains("s3cret-pass"), "\(refusedError)")
        #expect(!String(reflecting: refusedError).contains("s3cret-pass"))

        // A URL that cannot even be parsed is named too, without its password.
        let malformed = Fleet(
            name: "preflight-fleet2",
            shards: [
                Shard(
                    name: "odd-shard", url: "postgres://flotilla:s3cret-pass@127.0.0.1:notaport/postgres",
                    location: here)
            ],
            tenants: [schemaTenant("y1", shard: "odd-shard")])
        #expect {
            _ = try FleetConnections(fleet: malformed, embedded: nil, environment: [:], logger: engineTestLogger)
        } throws: { error in
            let text = "\(error)"
            return text.contains("odd-shard") && !text.contains("s3cret-pass")
        }
    }
}
