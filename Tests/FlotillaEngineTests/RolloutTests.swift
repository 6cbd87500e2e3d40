import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Whole rollouts on a real PostgreSQL: schema-per-tenant and database-per-tenant, every outcome read back with psql.
struct RolloutTests {
    static let twoPhaseChange = """
        change: 0001_score
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN score integer;
            down: ALTER TABLE users DROP COLUMN score;
          - name: backfill
            backfill: {table: users, set: "score = id * 2", where: "score IS NULL", batch_size: 7}
        """

    static let canaryPolicy = """
        policy: canary
        waves:
          - {name: canary, select: {labels: {tier: internal}}}
          - {name: rest, select: {remaining: true}, by: shard}
        parallel: 4
        per_shard_parallel: 2
        lock_timeout: 2s
        retries: {attempts: 2, backoff: 100ms}
        checks:
          - {name: users-readable, sql: "SELECT count(*) >= 0 FROM users", scope: tenant}
        on_failure: revert
        """

    /// Two coordinators started in the same instant: one rollout row, every tenant applied once.
    @Test(.timeLimit(.minutes(10)))
    func twoCoordinatorsStartingTogetherShareOneRollout() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "twin")
        let tenants = (1...8).map { schemaTenant(String(format: "w%02d", $0), shard: "a") }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 3)
        let rig = try await Rig(fleet: makeFleet(name: "twin-fleet", shards: [("a", shard)], tenants: tenants))
        let change = try parseChange(
            """
            change: 0001_twin
            phases:
              - name: expand
                up: |
                  SELECT pg_sleep(0.1);
                  ALTER TABLE users ADD COLUMN twin integer;
                down: ALTER TABLE users DROP COLUMN twin;
            """)
        let policy = try parsePolicy(
            """
            policy: wide
            waves:
              - {name: all, select: {remaining: true}}
            parallel: 2
            """)
        async let first = rig.rollout(change, policy)
        async let second = rig.rollout(change, policy)
        let outcomes = try await [first, second]
        #expect(outcomes.allSatisfy { $0.exitCode == 0 }, "\(outcomes)")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.rollouts") == "1")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'applied'") == "8")
        for tenant in tenants {
            let probe = TenantProbe(shard: shard, schema: tenant.placement.name)
            #expect(try probe.liveLedger(change: change.id).map(\.phase) == ["expand"], "tenant \(tenant.id)")
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func schemaPerTenantTwoPhaseRollout() async throws {
        let shardA = try await TestCluster.shared.freshDatabase(prefix: "spt_a")
        let shardB = try await TestCluster.shared.freshDatabase(prefix: "spt_b")
        let tenants = (1...12).map { n in
            schemaTenant(
                String(format: "t%02d", n), shard: n % 2 == 1 ? "a" : "b",
                labels: ["tier": n <= 2 ? "internal" : "free"])
        }
        try createSchemaTenants(shardA, schemas: tenants.filter { $0.shard == "a" }.map(\.placement.name), rows: 50)
        try createSchemaTenants(shardB, schemas: tenants.filter { $0.shard == "b" }.map(\.placement.name), rows: 50)
        let fleet = makeFleet(name: "schema-fleet", shards: [("a", shardA), ("b", shardB)], tenants: tenants)
        let change = try parseChange(Self.twoPhaseChange)
        let policy = try parsePolicy(Self.canaryPolicy)
        let rig = try await Rig(fleet: fleet)

        let outcome = try await rig.rollout(change, policy)
        guard case .done(let rolloutID) = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 0)

        let checksums = Dictionary(uniqueKeysWithValues: change.phases.map { ($0.name, $0.checksum) })
        for tenant in tenants {
            let probe = TenantProbe(shard: tenant.shard == "a" ? shardA : shardB, schema: tenant.placement.name)
            #expect(try probe.columnType("score") == "integer", "tenant \(tenant.id)")
            #expect(try probe.query("SELECT count(*) FROM users") == "50")
            #expect(
                try probe.query("SELECT count(*) FROM users WHERE score IS DISTINCT FROM id * 2") == "0",
                "tenant \(tenant.id)")
            let live = try probe.liveLedger(change: change.id)
            #expect(live.map(\.phase).sorted() == ["backfill", "expand"], "tenant \(tenant.id)")
            for entry in live {
                #expect(entry.checksum == checksums[entry.phase], "tenant \(tenant.id) phase \(entry.phase)")
            }
            #expect(
                try probe.query("SELECT count(DISTINCT rollout_id) || '|' || max(rollout_id) FROM flotilla_history")
                    == "1|\(rolloutID)")
        }
        // The shard databases hold nothing but the tenants' schemas: no ledger outside them.
        #expect(
            try psql(
                shardA,
                "SELECT count(*) FROM pg_tables WHERE tablename = 'flotilla_history' AND schemaname NOT LIKE 'tenant_%'"
            ) == "0")

        #expect(try rig.rolloutState() == "done")
        #expect(try rig.journal("SELECT id FROM flotilla.rollouts") == rolloutID)
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps") == "24")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state <> 'applied'") == "0")
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.steps WHERE finished_at IS NULL OR attempts <> 1") == "0")
        // Each tenant's backfill checkpoint (kept beside its ledger while the backfill ran) is forgotten once the
        // phase is recorded.
        for tenant in tenants {
            let probe = TenantProbe(shard: tenant.shard == "a" ? shardA : shardB, schema: tenant.placement.name)
            #expect(try probe.query("SELECT count(*) FROM flotilla_backfill") == "0", "tenant \(tenant.id)")
        }
        // Canary first: every canary step of a phase finished before any other tenant's step of that phase started.
        #expect(
            try rig.journal(
                """
                SELECT bool_and(c.last < r.first) FROM
                  (SELECT phase, max(finished_at) AS last FROM flotilla.steps WHERE wave = 'canary' GROUP BY phase) c
                  JOIN (SELECT phase, min(started_at) AS first FROM flotilla.steps WHERE wave = 'rest' GROUP BY phase) r USING (phase)
                """) == "t")
        // Expand went everywhere before the backfill started anywhere.
        #expect(
            try rig.journal(
                "SELECT (SELECT max(finished_at) FROM flotilla.steps WHERE phase = 'expand') < (SELECT min(started_at) FROM flotilla.steps WHERE phase = 'backfill')"
            ) == "t")
        let kinds = try rig.eventKinds()
        #expect(kinds.first == "started")
        #expect(kinds.last == "done")
        #expect(kinds.filter { $0 == "phase-finished" }.count == 2)
        // 2 phases × 2 waves (a wave split by shard is still one wave)
        #expect(kinds.filter { $0 == "wave-finished" }.count == 4)

        // Running it again finds it done and touches nothing.
        let again = try await rig.rollout(change, policy)
        #expect(again == .alreadyDone(rollout: rolloutID))
        #expect(try rig.journal("SELECT count(*) FROM flotilla.rollouts") == "1")
    }

    @Test(.timeLimit(.minutes(10)))
    func databasePerTenantRollout() async throws {
        let cluster = try await TestCluster.shared.url()
        let shardA = try await TestCluster.shared.freshDatabase(prefix: "dpt_a")
        let shardB = try await TestCluster.shared.freshDatabase(prefix: "dpt_b")
        let base = uniqueName("dpt")
        let tenants = (1...6).map { n in
            Tenant(
                id: "d\(n)", shard: n % 2 == 1 ? "a" : "b", placement: .database("\(base)_\(n)"),
                labels: ["tier": n == 1 ? "internal" : "free"], location: here)
        }
        for tenant in tenants {
            _ = try psql(cluster, "CREATE DATABASE \(tenant.placement.name)")
            _ = try psql(
                cluster.with(database: tenant.placement.name),
                """
                CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);
                INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 50) AS g;
                """)
        }
        let fleet = makeFleet(name: "database-fleet", shards: [("a", shardA), ("b", shardB)], tenants: tenants)
        let change = try parseChange(Self.twoPhaseChange)
        let policy = try parsePolicy(Self.canaryPolicy)
        let rig = try await Rig(fleet: fleet)

        let outcome = try await rig.rollout(change, policy)
        guard case .done = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        let checksums = Dictionary(uniqueKeysWithValues: change.phases.map { ($0.name, $0.checksum) })
        for tenant in tenants {
            let probe = TenantProbe(database: tenant.placement.name, on: cluster)
            #expect(try probe.columnType("score") == "integer", "tenant \(tenant.id)")
            #expect(
                try probe.query("SELECT count(*) FROM users WHERE score IS DISTINCT FROM id * 2") == "0",
                "tenant \(tenant.id)")
            let live = try probe.liveLedger(change: change.id)
            #expect(live.map(\.phase).sorted() == ["backfill", "expand"], "tenant \(tenant.id)")
            for entry in live { #expect(entry.checksum == checksums[entry.phase]) }
        }
        // Nothing landed in the shard databases themselves.
        for shard in [shardA, shardB] {
            #expect(
                try psql(shard, "SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'flotilla_history')")
                    == "0")
        }
        #expect(try rig.rolloutState() == "done")
        #expect(
            try rig.journal("SELECT count(*) || '/' || count(*) FILTER (WHERE state = 'applied') FROM flotilla.steps")
                == "12/12")
        #expect(try rig.eventKinds().contains("done"))
        for tenant in tenants {
            _ = try? psql(cluster, "DROP DATABASE IF EXISTS \(tenant.placement.name) WITH (FORCE)")
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func approvalGateStopsThenResumesAfterApprove() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "gate")
        let tenants = (1...4).map {
            schemaTenant("g\($0)", shard: "a", labels: ["tier": $0 == 1 ? "internal" : "free"])
        }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 5)
        let fleet = makeFleet(name: "gate-fleet", shards: [("a", shard)], tenants: tenants)
        let change = try parseChange(
            """
            change: 0002_gated
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN nickname text;
                down: ALTER TABLE users DROP COLUMN nickname;
              - name: contract
                gate: approval
                reversible: false
                up: ALTER TABLE users DROP COLUMN email;
            """)
        let policy = try parsePolicy(Self.canaryPolicy.replacingOccurrences(of: ", by: shard", with: ""))
        let rig = try await Rig(fleet: fleet)

        let first = try await rig.rollout(change, policy, options: RolloutEngine.Options(waitForApproval: false))
        guard case .awaitingApproval(let rolloutID, let phase) = first else {
            Issue.record("expected awaitingApproval, got \(first)")
            return
        }
        #expect(phase == "contract")
        #expect(first.exitCode == 0)
        #expect(try rig.rolloutState() == "awaiting-approval")
        for tenant in tenants {
            let probe = TenantProbe(shard: shard, schema: tenant.placement.name)
            #expect(try probe.columnType("nickname") == "text")
            #expect(try probe.columnType("email") == "text", "contract must not run before approval")
            #expect(try probe.liveLedger(change: change.id).map(\.phase) == ["expand"])
        }
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.steps WHERE phase = 'contract' AND state <> 'pending'")
                == "0")

        // Still waiting when run again without approval.
        let second = try await rig.rollout(change, policy, options: RolloutEngine.Options(waitForApproval: false))
        #expect(second == .awaitingApproval(rollout: rolloutID, phase: "contract"))

        let approved = try await rig.withEngine { _, store, _ in try await store.approve(rolloutID, phase: "contract") }
        #expect(approved)
        #expect(try rig.journal("SELECT approved_phases::text FROM flotilla.rollouts") == "{contract}")

        let third = try await rig.rollout(change, policy, options: RolloutEngine.Options(waitForApproval: false))
        #expect(third == .done(rollout: rolloutID))
        for tenant in tenants {
            let probe = TenantProbe(shard: shard, schema: tenant.placement.name)
            #expect(try probe.columnType("email") == nil)
            #expect(try probe.liveLedger(change: change.id).map(\.phase) == ["expand", "contract"])
        }
        #expect(try rig.rolloutState() == "done")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'applied'") == "8")
        #expect(try rig.eventKinds().contains("awaiting-approval"))
    }

    @Test(.timeLimit(.minutes(10)))
    func approvalGateWaitsForApproveWhileRunning() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "gatew")
        let tenants = (1...2).map {
            schemaTenant("w\($0)", shard: "a", labels: ["tier": $0 == 1 ? "internal" : "free"])
        }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 1)
        let fleet = makeFleet(name: "gate-wait-fleet", shards: [("a", shard)], tenants: tenants)
        let change = try parseChange(
            """
            change: 0003_gated_first
            phases:
              - name: expand
                gate: approval
                up: ALTER TABLE users ADD COLUMN nickname text;
                down: ALTER TABLE users DROP COLUMN nickname;
            """)
        let policy = try parsePolicy(Self.canaryPolicy.replacingOccurrences(of: ", by: shard", with: ""))
        let rig = try await Rig(fleet: fleet)
        let run = Task {
            try await rig.rollout(
                change, policy, options: RolloutEngine.Options(waitForApproval: true, approvalPoll: .milliseconds(100)))
        }
        let waiting = try await eventually { (try? rig.rolloutState()) == "awaiting-approval" }
        #expect(waiting)
        try await Task.sleep(for: .milliseconds(300))
        for tenant in tenants {
            #expect(try TenantProbe(shard: shard, schema: tenant.placement.name).columnType("nickname") == nil)
        }
        let id = try rig.journal("SELECT id FROM flotilla.rollouts")
        _ = try rig.journal(
            "UPDATE flotilla.rollouts SET approved_phases = array_append(approved_phases, 'expand') WHERE id = '\(id)'")
        let outcome = try await run.value
        #expect(outcome == .done(rollout: id))
        for tenant in tenants {
            #expect(try TenantProbe(shard: shard, schema: tenant.placement.name).columnType("nickname") == "text")
        }
    }
}
