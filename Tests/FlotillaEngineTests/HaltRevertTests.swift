import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// `halt --revert`: the rollout stops and the current phase is undone on every tenant that got it, even when they
/// are more than the caps let run at once — the halt that stops new steps does not stop the revert.
struct HaltRevertTests {
    @Test(.timeLimit(.minutes(10)))
    func haltWithRevertUndoesThePhaseEverywhereItWasApplied() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "hrev")
        let tenants = (1...10).map { schemaTenant(String(format: "h%02d", $0), shard: "a") }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 2)
        let rig = try await Rig(fleet: makeFleet(name: "hrev-fleet", shards: [("a", shard)], tenants: tenants))
        let change = try parseChange(
            """
            change: 0001_hrev
            phases:
              - name: expand
                up: |
                  SELECT pg_sleep(0.2);
                  ALTER TABLE users ADD COLUMN hrev integer;
                down: ALTER TABLE users DROP COLUMN hrev;
            """)
        let policy = try parsePolicy(
            """
            policy: slow
            waves:
              - {name: all, select: {remaining: true}}
            parallel: 2
            per_shard_parallel: 2
            """)
        let run = Task { try await rig.rollout(change, policy) }
        let some = try await eventually(every: .milliseconds(20)) {
            (Int((try? rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'applied'")) ?? "") ?? 0) >= 5
        }
        try #require(some)
        _ = try rig.journal(
            "INSERT INTO flotilla.halts (fleet, reason, halted_by, revert) VALUES ('hrev-fleet', 'bad deploy', 'oncall', true)"
        )
        let outcome = try await run.value
        guard case .reverted = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        // More tenants had the phase than run at once: every one of them is back, its ledger row marked reverted.
        var reverted = 0
        for tenant in tenants {
            let probe = TenantProbe(shard: shard, schema: tenant.placement.name)
            #expect(try probe.columnType("hrev") == nil, "tenant \(tenant.id) still has the column")
            let ledger = try probe.ledger(change: change.id)
            let live = ledger.filter { !$0.reverted }.count
            #expect(live == 0, "tenant \(tenant.id): \(ledger)")
            if !ledger.isEmpty { reverted += 1 }
        }
        #expect(reverted >= 5)
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'applied'") == "0")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'reverted'") == "\(reverted)")
        #expect(try rig.rolloutState() == "reverted")
    }
}
