import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// A rollout's tenant set is journaled when it starts: a resume runs over it, never over tenants that appeared since;
/// a revert by hand undoes the phases on its tenants, even one the fleet's definition has dropped meanwhile.
@Suite(.serialized)
struct SnapshotTests {
    static let change = """
        change: 0001_nick
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN nick text;
            down: ALTER TABLE users DROP COLUMN nick;
          - name: contract
            gate: approval
            up: ALTER TABLE users ADD COLUMN bio text;
            down: ALTER TABLE users DROP COLUMN bio;
        """

    static let policy = """
        policy: all
        waves:
          - {name: all, select: {remaining: true}}
        """

    @Test(.timeLimit(.minutes(10)))
    func aTenantAddedAfterTheStartIsNotAppliedByTheResumeAndIsReported() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "snap")
        try createSchemaTenants(shard, schemas: ["tenant_s1", "tenant_s2", "tenant_s3"], rows: 3)
        let first = [
            schemaTenant("s1", shard: "a", labels: ["tier": "free"]), schemaTenant("s2", shard: "a"),
            schemaTenant("s3", shard: "a"),
        ]
        let fleet = makeFleet(name: "snapshot-fleet", shards: [("a", shard)], tenants: first)
        let change = try parseChange(Self.change)
        let policy = try parsePolicy(Self.policy)
        let rig = try await Rig(fleet: fleet)

        // The rollout stops at the gate of its second phase, expand applied on the three tenants it started with.
        var noWait = RolloutEngine.Options(waitForApproval: false)
        noWait.listenForHalts = false
        let stopped = try await rig.rollout(change, policy, options: noWait)
        guard case .awaitingApproval(let id, "contract") = stopped else {
            Issue.record("expected to wait at the gate, got \(stopped)")
            return
        }
        #expect(
            lines(
                try rig.journal(
                    "SELECT position, tenant, shard, schema_name, coalesce(database_name, '-'), labels::text FROM flotilla.rollout_tenants WHERE rollout_id = '\(id)' ORDER BY position"
                ))
                == [
                    "0|s1|a|tenant_s1|-|{\"tier\": \"free\"}", "1|s2|a|tenant_s2|-|{}", "2|s3|a|tenant_s3|-|{}",
                ])
        #expect(try rig.journal("SELECT kind || '|' || coalesce(parent_id, '-') FROM flotilla.rollouts") == "rollout|-")

        // A tenant is created and added to the fleet while the rollout waits.
        try createSchemaTenants(shard, schemas: ["tenant_s4"], rows: 3)
        let grown = makeFleet(
            name: "snapshot-fleet", shards: [("a", shard)], tenants: first + [schemaTenant("s4", shard: "a")])
        let later = Rig(fleet: grown, control: rig.control)
        let (appeared, started) = try await later.withEngine { _, store, _ in
            (
                try await store.tenantsNotInSnapshot(id, ids: grown.tenants.map(\.id)),
                try await store.tenantSnapshotCount(id)
            )
        }
        #expect(appeared == ["s4"])
        #expect(started == 3)

        // Approved and resumed with the grown fleet's definitions: the rollout's three tenants get contract; the new
        // one gets nothing, not even expand.
        try await later.withEngine { _, store, _ in _ = try await store.approve(id, phase: "contract") }
        let resumed = try await later.rollout(change, policy, options: noWait)
        #expect(resumed == .done(rollout: id))
        for schema in ["tenant_s1", "tenant_s2", "tenant_s3"] {
            let probe = TenantProbe(shard: shard, schema: schema)
            #expect(try probe.ledger(change: "0001_nick").map(\.phase) == ["expand", "contract"])
            #expect(try probe.columnType("bio") == "text")
        }
        let newcomer = TenantProbe(shard: shard, schema: "tenant_s4")
        #expect(try newcomer.hasLedger == false)
        #expect(try newcomer.columnType("nick") == nil)
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE tenant = 's4'") == "0")
        #expect(
            try rig.journal(
                "SELECT string_agg(phase || ':' || state || ':' || n, ',' ORDER BY phase) FROM (SELECT phase, state, count(*) n FROM flotilla.steps GROUP BY 1, 2) x"
            )
                == "contract:applied:3,expand:applied:3")
        // Still reported after the rollout is done: converge brings it up.
        let still = try await later.withEngine { _, store, _ in
            try await store.tenantsNotInSnapshot(id, ids: grown.tenants.map(\.id))
        }
        #expect(still == ["s4"])
    }

    @Test(.timeLimit(.minutes(10)))
    func revertByHandUsesTheSnapshotNotTheFleetOfNow() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "snaprev")
        try createSchemaTenants(shard, schemas: ["tenant_r1", "tenant_r2", "tenant_r3"], rows: 3)
        let tenants = ["r1", "r2", "r3"].map { schemaTenant($0, shard: "a") }
        let fleet = makeFleet(name: "snapshot-revert", shards: [("a", shard)], tenants: tenants)
        let change = try parseChange(Self.change)
        let policy = try parsePolicy(Self.policy)
        let rig = try await Rig(fleet: fleet)
        var options = RolloutEngine.Options(approveGates: true)
        options.listenForHalts = false
        let outcome = try await rig.rollout(change, policy, options: options)
        guard case .done(let id) = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }

        // The fleet's definition drops r3 and gains r4 (which has a schema, never touched): the revert follows the
        // rollout's own set.
        try createSchemaTenants(shard, schemas: ["tenant_r4"], rows: 1)
        let changed = makeFleet(
            name: "snapshot-revert", shards: [("a", shard)],
            tenants: [tenants[0], tenants[1], schemaTenant("r4", shard: "a")])
        let later = Rig(fleet: changed, control: rig.control)
        let reverted = try await later.withEngine { engine, _, _ in
            try await engine.revert(rollout: id, change: change, policy: policy)
        }
        guard case .reverted(let report) = reverted else {
            Issue.record("expected a revert, got \(reverted)")
            return
        }
        #expect(report.phases.map(\.phase) == ["contract", "expand"])
        #expect(report.phases.map(\.tenantCount) == [3, 3])
        for schema in ["tenant_r1", "tenant_r2", "tenant_r3"] {
            let probe = TenantProbe(shard: shard, schema: schema)
            #expect(try probe.ledger(change: "0001_nick").map(\.reverted) == [true, true])
            #expect(try probe.columnType("nick") == nil)
            #expect(try probe.columnType("bio") == nil)
        }
        #expect(try TenantProbe(shard: shard, schema: "tenant_r4").hasLedger == false)
        #expect(try rig.rolloutState() == "reverted")
    }

    @Test(.timeLimit(.minutes(10)))
    func aRolloutJournaledWithoutASnapshotResumesOverTheFleet() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "snapold")
        try createSchemaTenants(shard, schemas: ["tenant_o1", "tenant_o2"], rows: 1)
        let fleet = makeFleet(
            name: "snapshot-legacy", shards: [("a", shard)], tenants: [schemaTenant("o1", shard: "a")])
        let change = try parseChange(Self.change)
        let policy = try parsePolicy(Self.policy)
        let rig = try await Rig(fleet: fleet)
        var noWait = RolloutEngine.Options(waitForApproval: false)
        noWait.listenForHalts = false
        let stopped = try await rig.rollout(change, policy, options: noWait)
        guard case .awaitingApproval(let id, _) = stopped else {
            Issue.record("expected to wait at the gate, got \(stopped)")
            return
        }
        // As a rollout from before tenant sets were journaled: no snapshot rows, kind as the column's default.
        _ = try rig.journal("DELETE FROM flotilla.rollout_tenants")
        _ = try rig.journal("UPDATE flotilla.rollouts SET approved_phases = '{contract}'")
        let grown = makeFleet(
            name: "snapshot-legacy", shards: [("a", shard)],
            tenants: [schemaTenant("o1", shard: "a"), schemaTenant("o2", shard: "a")])
        let later = Rig(fleet: grown, control: rig.control)
        let resumed = try await later.rollout(change, policy, options: noWait)
        #expect(resumed == .done(rollout: id))
        // The fleet's tenants, as before snapshots: the resume seeds o2 into every phase.
        #expect(try TenantProbe(shard: shard, schema: "tenant_o1").ledger(change: "0001_nick").count == 2)
        #expect(
            try TenantProbe(shard: shard, schema: "tenant_o2").ledger(change: "0001_nick").map(\.phase) == [
                "expand", "contract",
            ])
        let appeared = try await later.withEngine { _, store, _ in
            try await store.tenantsNotInSnapshot(id, ids: grown.tenants.map(\.id))
        }
        #expect(appeared == nil)
    }
}
