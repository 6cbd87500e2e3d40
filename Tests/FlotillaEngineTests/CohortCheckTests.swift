import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// `compare: cohort` on real PostgreSQL: a sql check reads each tenant's `latency.ms`; the wave's tenants are
/// compared with tenants on the same shards that have not got the phase yet.
@Suite(.heavy)
struct CohortCheckTests {
    static let change = """
        change: 0001_nickname
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN nickname text;
            down: ALTER TABLE users DROP COLUMN nickname;
        """

    static let policy = """
        policy: cohort
        waves:
          - {name: first, select: {labels: {wave: first}}, bake: 300ms}
          - {name: second, select: {labels: {wave: second}}, bake: 300ms}
          - {name: third, select: {labels: {wave: third}}, bake: 0s}
        parallel: 4
        per_shard_parallel: 2
        retries: {attempts: 1, backoff: 10ms}
        checks:
          - name: latency
            sql: SELECT ms FROM latency
            compare: cohort
            max_regression: "20%"
            min_samples: 2
            interval: 100ms
            timeout: 5s
        on_failure: revert
        on_inconclusive: halt
        """

    /// Every tenant gets `latency (ms)` with `ms(tenant)` in it.
    static func seed(_ rig: CanaryRig, ms: (Tenant) -> Int) throws {
        for tenant in rig.fleet.tenants {
            _ = try rig.query(
                tenant, "CREATE TABLE latency (ms double precision); INSERT INTO latency VALUES (\(ms(tenant)))")
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func slowdownInTheChangedTenantsOnlyFailsAndReverts() async throws {
        let rig = try await CanaryRig.make("cy-cohort-slow", tenants: CanaryRevertTests.tenants)
        // The first wave's tenants are three times slower than the rest.
        try Self.seed(rig) { $0.labels["wave"] == "first" ? 30 : 10 }
        let outcome = try await rig.rollout(try canaryChange(Self.change), try canaryPolicy(Self.policy))
        guard case .reverted(let id, let reason) = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        #expect(reason.contains("check latency (sql, scope tenant) failed in wave first"), "\(reason)")
        #expect(reason.contains("changed median 30 (2) vs baseline median 10 (2): 200% higher"), "\(reason)")
        #expect(
            try rig.journal("SELECT string_agg(wave || ':' || verdict, ',' ORDER BY id) FROM flotilla.check_verdicts")
                == "first:failed")
        // The round's comparison, both cohorts' values side by side.
        #expect(
            try rig.journal(
                "SELECT verdict || '|' || value || '|' || baseline FROM flotilla.measurements WHERE cohort = 'compared' ORDER BY id LIMIT 1"
            ) == "fail|30|10")
        // The baseline: tenants of later waves, on both shards the wave touched.
        let baselineTenants = lines(
            try rig.journal(
                "SELECT DISTINCT tenant || ':' || shard FROM flotilla.measurements WHERE cohort = 'baseline' ORDER BY 1"
            ))
        #expect(baselineTenants.count == 2)
        #expect(Set(baselineTenants.map { $0.split(separator: ":")[1] }) == ["a", "b"])
        #expect(baselineTenants.allSatisfy { !$0.hasPrefix("c") })
        #expect(
            try rig.journal(
                "SELECT string_agg(DISTINCT tenant, ',') FROM flotilla.measurements WHERE cohort = 'changed'")
                == "c1,c2")
        // Reverted: the first wave lost the column, the others never got it.
        let states = try rig.stepStates("expand")
        for tenant in rig.fleet.tenants {
            #expect(states[tenant.id] == (tenant.labels["wave"] == "first" ? "reverted" : "pending"), "\(tenant.id)")
            #expect(try rig.column(tenant, "nickname") == nil, "\(tenant.id)")
        }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts WHERE id = '\(id)'") == "reverted")
        // What status shows: the comparison, not the readings behind it, with both values.
        let recent = try await rig.withEngine { _, store in try await store.recentMeasurements(id) }
        #expect(recent.first?.measurement.cohort == "compared")
        #expect(recent.first?.measurement.value == "30")
        #expect(recent.first?.measurement.baseline == "10")
        // And `flotilla status` prints them side by side.
        let workspace = try ChildProcessFixtures.Workspace(prefix: "flotilla-cohort-status")
        defer { workspace.remove() }
        let children = try ChildProcessFixtures.Children(workspace: workspace)
        let status = try await children.run("status", ["status", id, "--control", postgresURL(rig.control)])
        #expect(status.exitStatus == 0, "\(status.transcript)")
        #expect(
            status.output.contains("cohort fail: changed median 30 (2) vs baseline median 10 (2)"),
            "\(status.transcript)")
        #expect(status.output.contains("changed 30 | baseline 10"), "\(status.transcript)")
    }

    @Test(.timeLimit(.minutes(10)))
    func fleetWideSlowdownPasses() async throws {
        let rig = try await CanaryRig.make("cy-cohort-fleet", tenants: CanaryRevertTests.tenants)
        // The whole database is slow: every tenant alike.
        try Self.seed(rig) { _ in 50 }
        let outcome = try await rig.rollout(try canaryChange(Self.change), try canaryPolicy(Self.policy))
        guard case .done(let id) = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        #expect(
            try rig.journal("SELECT string_agg(wave || ':' || verdict, ',' ORDER BY id) FROM flotilla.check_verdicts")
                == "first:passed,second:passed,third:passed")
        // Compared in the first two waves (the third has nobody left to compare with), every round passing.
        #expect(
            try rig.journal(
                "SELECT string_agg(DISTINCT wave || ':' || verdict || ':' || value || ':' || baseline, ',') FROM flotilla.measurements WHERE cohort = 'compared'"
            ) == "first:pass:50:50,second:pass:50:50")
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE cohort IS NOT NULL AND wave = 'third'")
                == "0")
        for tenant in rig.fleet.tenants {
            #expect(try rig.column(tenant, "nickname") == "text", "\(tenant.id)")
        }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts WHERE id = '\(id)'") == "done")
    }

    @Test(.timeLimit(.minutes(10)))
    func tooFewSamplesIsInconclusive() async throws {
        let rig = try await CanaryRig.make("cy-cohort-few", tenants: CanaryRevertTests.tenants)
        try Self.seed(rig) { _ in 10 }
        // Five readings needed on each side; the first wave has two tenants.
        let policy = Self.policy.replacingOccurrences(of: "min_samples: 2", with: "min_samples: 5")
        let outcome = try await rig.rollout(try canaryChange(Self.change), try canaryPolicy(policy))
        guard case .halted(_, let reason) = outcome else {
            Issue.record("expected halted, got \(outcome)")
            return
        }
        #expect(reason.contains("fewer than min_samples 5"), "\(reason)")
        #expect(
            try rig.journal(
                "SELECT string_agg(DISTINCT verdict, ',') FROM flotilla.measurements WHERE cohort = 'compared'")
                == "inconclusive")
        #expect(try rig.stepStates("expand")["r1"] == "pending")
    }
}
