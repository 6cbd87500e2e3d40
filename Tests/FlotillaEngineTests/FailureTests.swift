import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Failing tenants, failing checks, budgets: what is kept, what is reverted, what the journal says.
struct FailureTests {
    static let addScore = """
        change: 0001_score
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN score integer;
            down: ALTER TABLE users DROP COLUMN score;
        """

    static func policy(onFailure: String, budget: String = "{per_wave: 0, total: 0}", extra: String = "") -> String {
        """
        policy: p
        waves:
          - {name: first, select: {tenants: [f1, f2, f3]}}
          - {name: second, select: {remaining: true}}
        parallel: 4
        per_shard_parallel: 4
        lock_timeout: 2s
        retries: {attempts: 3, backoff: 50ms}
        failure_budget: \(budget)
        on_failure: \(onFailure)
        \(extra)
        """
    }

    /// f1…f6 on one shard; f2 already has `score` as text, so `ADD COLUMN score integer` fails there with 42701.
    func brokenFleet(_ name: String) async throws -> (Rig, ConnectionURL, [Tenant]) {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "fail")
        let tenants = (1...6).map { schemaTenant("f\($0)", shard: "a") }
        try createSchemaTenants(
            shard, schemas: tenants.map(\.placement.name), rows: 3,
            extra: "ALTER TABLE tenant_f2.users ADD COLUMN score text DEFAULT 'kept';")
        let fleet = makeFleet(name: name, shards: [("a", shard)], tenants: tenants)
        return (try await Rig(fleet: fleet), shard, tenants)
    }

    @Test(.timeLimit(.minutes(10)))
    func oneTenantFailsAndPolicyHalts() async throws {
        let (rig, shard, _) = try await brokenFleet("halt-fleet")
        let change = try parseChange(Self.addScore)
        let outcome = try await rig.rollout(change, try parsePolicy(Self.policy(onFailure: "halt")))
        guard case .halted(_, let reason) = outcome else {
            Issue.record("expected halted, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 3)
        #expect(reason.contains("f2"))
        #expect(reason.contains("42701"))

        // The failed tenant is as it was: its column still text with its values, no ledger.
        let broken = TenantProbe(shard: shard, schema: "tenant_f2")
        #expect(try broken.columnType("score") == "text")
        #expect(try broken.query("SELECT string_agg(DISTINCT score, ',') FROM users") == "kept")
        #expect(try broken.hasLedger == false)
        // The others of its wave committed.
        for id in ["f1", "f3"] {
            let probe = TenantProbe(shard: shard, schema: "tenant_\(id)")
            #expect(try probe.columnType("score") == "integer", "tenant \(id)")
            #expect(try probe.liveLedger(change: change.id).map(\.phase) == ["expand"], "tenant \(id)")
        }
        // The next wave was never touched.
        for id in ["f4", "f5", "f6"] {
            let probe = TenantProbe(shard: shard, schema: "tenant_\(id)")
            #expect(try probe.columnType("score") == nil, "tenant \(id)")
            #expect(try probe.hasLedger == false, "tenant \(id)")
        }
        let steps = try rig.steps(phase: "expand")
        #expect(steps["f2"]?.state == "failed")
        #expect(steps["f2"]?.sqlState == "42701")
        #expect(steps["f2"]?.attempts == 1, "a duplicate column is not retried")
        #expect(steps["f1"]?.state == "applied")
        #expect(steps["f3"]?.state == "applied")
        for id in ["f4", "f5", "f6"] { #expect(steps[id]?.state == "pending", "tenant \(id)") }
        #expect(try rig.rolloutState() == "halted")
        #expect(try rig.journal("SELECT reason LIKE '%f2%' FROM flotilla.rollouts") == "t")
        let kinds = try rig.eventKinds()
        #expect(kinds.contains("step-failed"))
        #expect(kinds.contains("halted"))
        #expect(try rig.journal("SELECT error FROM flotilla.steps WHERE tenant = 'f2'").contains("score"))
    }

    @Test(.timeLimit(.minutes(10)))
    func oneTenantFailsAndPolicyReverts() async throws {
        let (rig, shard, _) = try await brokenFleet("revert-fleet")
        let change = try parseChange(Self.addScore)
        let outcome = try await rig.rollout(change, try parsePolicy(Self.policy(onFailure: "revert")))
        guard case .reverted = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 3)
        let broken = TenantProbe(shard: shard, schema: "tenant_f2")
        #expect(try broken.columnType("score") == "text")
        #expect(try broken.hasLedger == false)
        for id in ["f1", "f3"] {
            let probe = TenantProbe(shard: shard, schema: "tenant_\(id)")
            #expect(try probe.columnType("score") == nil, "tenant \(id) reverted")
            let ledger = try probe.ledger(change: change.id)
            #expect(ledger.count == 1, "tenant \(id)")
            #expect(ledger.first?.reverted == true, "tenant \(id)")
        }
        for id in ["f4", "f5", "f6"] {
            #expect(try TenantProbe(shard: shard, schema: "tenant_\(id)").hasLedger == false, "tenant \(id)")
        }
        let steps = try rig.steps(phase: "expand")
        #expect(steps["f1"]?.state == "reverted")
        #expect(steps["f3"]?.state == "reverted")
        #expect(steps["f2"]?.state == "failed")
        #expect(steps["f2"]?.sqlState == "42701")
        #expect(try rig.rolloutState() == "reverted")
        #expect(try rig.eventKinds().filter { $0 == "step-reverted" }.count == 2)
    }

    @Test(.timeLimit(.minutes(10)))
    func failureWithinBudgetIsQuarantined() async throws {
        let (rig, shard, tenants) = try await brokenFleet("quarantine-fleet")
        let change = try parseChange(Self.addScore)
        let policy = try parsePolicy(Self.policy(onFailure: "revert", budget: "{per_wave: 1, total: 1}"))
        let events = EventLog()
        let outcome = try await rig.rollout(change, policy, events: events)
        guard case .done = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 0)
        let broken = TenantProbe(shard: shard, schema: "tenant_f2")
        #expect(try broken.columnType("score") == "text")
        #expect(try broken.query("SELECT string_agg(DISTINCT score, ',') FROM users") == "kept")
        #expect(try broken.hasLedger == false)
        for tenant in tenants where tenant.id != "f2" {
            let probe = TenantProbe(shard: shard, schema: tenant.placement.name)
            #expect(try probe.columnType("score") == "integer", "tenant \(tenant.id)")
            #expect(try probe.liveLedger(change: change.id).map(\.phase) == ["expand"], "tenant \(tenant.id)")
        }
        let steps = try rig.steps(phase: "expand")
        #expect(steps["f2"]?.state == "quarantined")
        #expect(steps["f2"]?.sqlState == "42701")
        #expect(steps.values.filter { $0.state == "applied" }.count == 5)
        #expect(try rig.rolloutState() == "done")
        #expect(try rig.journal("SELECT wave FROM flotilla.events WHERE kind = 'quarantined'") == "first")
        #expect(
            events.all.contains { if case .quarantined(_, let ids) = $0 { return ids == ["f2"] } else { return false } }
        )
    }

    @Test(.timeLimit(.minutes(10)))
    func quarantinedTenantIsSkippedByLaterPhases() async throws {
        let (rig, shard, tenants) = try await brokenFleet("quarantine-phases-fleet")
        let change = try parseChange(
            """
            change: 0001_score
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN score integer;
                down: ALTER TABLE users DROP COLUMN score;
              - name: index
                up: CREATE INDEX users_score ON users (score);
                down: DROP INDEX users_score;
            """)
        let policy = try parsePolicy(Self.policy(onFailure: "revert", budget: "{per_wave: 1, total: 1}"))
        let outcome = try await rig.rollout(change, policy)
        guard case .done = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        let broken = TenantProbe(shard: shard, schema: "tenant_f2")
        #expect(try broken.columnType("score") == "text")
        #expect(
            try broken.query(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = 'tenant_f2' AND indexname = 'users_score'") == "0",
            "the index phase ran on the quarantined tenant")
        let brokenLedger = try broken.ledger(change: change.id)
        #expect(brokenLedger.isEmpty, "\(brokenLedger)")
        for tenant in tenants where tenant.id != "f2" {
            let probe = TenantProbe(shard: shard, schema: tenant.placement.name)
            #expect(try probe.columnType("score") == "integer", "tenant \(tenant.id)")
            #expect(try probe.liveLedger(change: change.id).map(\.phase) == ["expand", "index"], "tenant \(tenant.id)")
        }
        #expect(try rig.steps(phase: "expand")["f2"]?.state == "quarantined")
        let index = try rig.steps(phase: "index")
        #expect(index["f2"]?.state != "applied", "a later phase skips the quarantined tenant")
        #expect(index["f2"]?.attempts == 0)
        #expect(index.values.filter { $0.state == "applied" }.count == 5)
        #expect(try rig.rolloutState() == "done")
    }

    @Test(.timeLimit(.minutes(10)))
    func failingCheckRevertsTheWavesThatGotThePhase() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "check")
        let ids = ["a1", "a2", "b1", "b2", "c1", "c2", "c3"]
        let tenants = ids.map { schemaTenant($0, shard: "a") }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 3)
        let fleet = makeFleet(name: "check-fleet", shards: [("a", shard)], tenants: tenants)
        let change = try parseChange(Self.addScore)
        let policy = try parsePolicy(
            """
            policy: checked
            waves:
              - {name: one, select: {tenants: [a1, a2]}}
              - {name: two, select: {tenants: [b1, b2]}}
              - {name: three, select: {remaining: true}}
            parallel: 4
            retries: {attempts: 1, backoff: 10ms}
            checks:
              - {name: not-b, sql: "SELECT current_schema() NOT IN ('tenant_b1', 'tenant_b2')", scope: tenant}
            on_failure: revert
            """)
        let rig = try await Rig(fleet: fleet)
        let outcome = try await rig.rollout(change, policy)
        guard case .reverted(_, let reason) = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 3)
        #expect(reason.contains("not-b"))
        for id in ["a1", "a2", "b1", "b2"] {
            let probe = TenantProbe(shard: shard, schema: "tenant_\(id)")
            #expect(try probe.columnType("score") == nil, "tenant \(id)")
            let ledger = try probe.ledger(change: change.id)
            #expect(ledger.count == 1 && ledger.allSatisfy(\.reverted), "tenant \(id): \(ledger)")
        }
        for id in ["c1", "c2", "c3"] {
            let probe = TenantProbe(shard: shard, schema: "tenant_\(id)")
            #expect(try probe.columnType("score") == nil, "tenant \(id)")
            #expect(try probe.hasLedger == false, "tenant \(id) never touched")
        }
        let steps = try rig.steps(phase: "expand")
        for id in ["a1", "a2", "b1", "b2"] { #expect(steps[id]?.state == "reverted", "tenant \(id)") }
        for id in ["c1", "c2", "c3"] { #expect(steps[id]?.state == "pending", "tenant \(id)") }
        #expect(try rig.rolloutState() == "reverted")
        // Newest wave first: wave two's reverts happened before wave one's.
        #expect(
            try rig.journal(
                "SELECT (SELECT max(at) FROM flotilla.events WHERE kind = 'step-reverted' AND tenant IN ('b1','b2')) < (SELECT min(at) FROM flotilla.events WHERE kind = 'step-reverted' AND tenant IN ('a1','a2'))"
            ) == "t")
        let kinds = try rig.eventKinds()
        #expect(kinds.contains("check-failed"))
        #expect(kinds.contains("reverted"))
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.events WHERE kind = 'check-failed' AND wave = 'two'") == "1")
    }
}
