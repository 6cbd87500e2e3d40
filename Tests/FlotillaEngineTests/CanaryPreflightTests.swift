import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// `preflight` checks (before a wave starts: wait or halt, never revert) and the failure budget.
struct CanaryPreflightTests {
    static let change = """
        change: 0001_nickname
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN nickname text;
            down: ALTER TABLE users DROP COLUMN nickname;
        """

    static func policy(checks: String, budget: String = "{per_wave: 0, total: 0}") -> String {
        """
        policy: preflight
        waves:
          - {name: first, select: {labels: {wave: first}}, bake: 100ms}
          - {name: second, select: {labels: {wave: second}}, bake: 100ms}
          - {name: third, select: {labels: {wave: third}}, bake: 100ms}
        parallel: 4
        per_shard_parallel: 2
        retries: {attempts: 1, backoff: 10ms}
        failure_budget: \(budget)
        checks:
        \(checks)
        on_failure: revert
        """
    }

    @Test(.timeLimit(.minutes(10)))
    func failingPreflightKeepsTheWaveFromStartingAndRevertsNothing() async throws {
        let rig = try await CanaryRig.make("cy-pre", tenants: CanaryRevertTests.tenants)
        for tenant in rig.tenantsOf(wave: "second") { _ = try rig.query(tenant, "UPDATE health SET ok = false") }
        let policy = try canaryPolicy(
            Self.policy(checks: "  - {name: ready, sql: \"SELECT ok FROM health\", scope: preflight, interval: 100ms}"))
        let change = try canaryChange(Self.change)
        let outcome = try await rig.rollout(change, policy)
        guard case .halted(let id, let reason) = outcome else {
            Issue.record("expected halted, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 3)
        #expect(reason.contains("preflight failed before wave second"))
        #expect(reason.contains("check ready (sql, scope preflight) failed before wave second of phase expand"))
        // The first wave keeps the phase; the second and third never started.
        for tenant in rig.tenantsOf(wave: "first") {
            #expect(try rig.column(tenant, "nickname") == "text")
            #expect(try rig.ledger(tenant, change: change.id) == ["expand:live"])
        }
        for tenant in rig.tenantsOf(wave: "second") + rig.tenantsOf(wave: "third") {
            #expect(try rig.hasLedger(tenant) == false)
            #expect(try rig.column(tenant, "nickname") == nil)
        }
        let states = try rig.stepStates("expand")
        for tenant in rig.fleet.tenants {
            #expect(
                states[tenant.id] == (tenant.labels["wave"] == "first" ? "applied" : "pending"), "tenant \(tenant.id)")
        }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts WHERE id = '\(id)'") == "halted")
        let kinds = try rig.eventKinds()
        #expect(kinds.contains("preflight-failed"))
        #expect(!kinds.contains("step-reverted") && !kinds.contains("reverted"))
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.events WHERE kind = 'wave-started' AND wave = 'second'")
                == "0")
        // It stopped at the first failing measurement (failure_limit 0): on a tenant of the second wave.
        let failing = try rig.journal(
            "SELECT string_agg(DISTINCT tenant, ',') FROM flotilla.measurements WHERE verdict = 'fail'")
        #expect(
            !failing.isEmpty && failing.split(separator: ",").allSatisfy { ["p1", "p2", "p3"].contains(String($0)) })
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE wave = 'first' AND verdict <> 'pass'")
                == "0")
        #expect(try rig.journal("SELECT DISTINCT scope FROM flotilla.measurements") == "preflight")
    }

    @Test(.timeLimit(.minutes(10)))
    func failingPreflightWaitsUntilItPasses() async throws {
        let rig = try await CanaryRig.make("cy-prewait", tenants: CanaryRevertTests.tenants)
        let blocked = rig.tenantsOf(wave: "second")[0]
        _ = try rig.query(blocked, "UPDATE health SET ok = false")
        let policy = try canaryPolicy(
            Self.policy(
                checks:
                    "  - {name: ready, sql: \"SELECT ok FROM health\", scope: preflight, interval: 100ms, failure_limit: 1000}"
            ))
        let change = try canaryChange(Self.change)
        let run = Task { try await rig.rollout(change, policy) }
        // Generous: the whole test suite shares two cores and one PostgreSQL.
        let waiting = try await eventually(within: .seconds(150)) {
            (try? rig.journal("SELECT count(*) FROM flotilla.events WHERE kind = 'preflight-waiting'")) == "1"
        }
        try #require(waiting)
        // The preflight keeps measuring while it waits: a second failed measurement, and still nothing started.
        let measuredAgain = try await eventually(within: .seconds(60)) {
            (try? rig.journal(
                "SELECT count(*) > 1 FROM flotilla.measurements WHERE tenant = '\(blocked.id)' AND verdict = 'fail'"))
                == "t"
        }
        #expect(measuredAgain)
        // Still waiting: nothing of the second wave has started.
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.steps WHERE wave = 'second' AND started_at IS NOT NULL")
                == "0")
        _ = try rig.query(blocked, "UPDATE health SET ok = true")
        let outcome = try await run.value
        guard case .done = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        for tenant in rig.fleet.tenants { #expect(try rig.ledger(tenant, change: change.id) == ["expand:live"]) }
        let kinds = try rig.eventKinds()
        #expect(kinds.contains("preflight-passed"))
        #expect(
            try rig.journal(
                "SELECT count(*) > 1 FROM flotilla.measurements WHERE tenant = '\(blocked.id)' AND verdict = 'fail'")
                == "t")
    }

    @Test(.timeLimit(.minutes(10)))
    func failureBudgetQuarantinesTheBrokenTenantAndTheRolloutCompletes() async throws {
        let rig = try await CanaryRig.make("cy-budget", tenants: CanaryRevertTests.tenants)
        let broken = rig.tenantsOf(wave: "second")[1]
        // The broken tenant has no users table: the phase fails there.
        _ = try rig.query(broken, "ALTER TABLE users RENAME TO customers")
        let policy = try canaryPolicy(
            Self.policy(
                checks: "  - {name: readable, sql: \"SELECT count(*) >= 0 FROM users\", interval: 100ms}",
                budget: "{per_wave: 1, total: 1}"))
        let change = try canaryChange(Self.change)
        let outcome = try await rig.rollout(change, policy)
        guard case .done(let id) = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        for tenant in rig.fleet.tenants where tenant.id != broken.id {
            #expect(try rig.column(tenant, "nickname") == "text")
            #expect(try rig.ledger(tenant, change: change.id) == ["expand:live"])
        }
        // Listed as quarantined, with PostgreSQL's reason, and left exactly as it was.
        #expect(
            try rig.journal("SELECT state || '|' || sqlstate FROM flotilla.steps WHERE tenant = '\(broken.id)'")
                == "quarantined|42P01")
        #expect(try rig.hasLedger(broken) == false)
        #expect(try rig.column(broken, "email", table: "customers") == "text")
        #expect(try rig.column(broken, "nickname", table: "customers") == nil)
        #expect(try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE tenant = '\(broken.id)'") == "0")
        let quarantined = try await rig.withEngine { _, store in
            try await store.steps(id).filter { $0.state == .quarantined }.map(\.tenant)
        }
        #expect(quarantined == [broken.id])
        #expect(try rig.eventKinds().contains("quarantined"))
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts") == "done")
    }
}
