import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Canaries that go bad and what happens next: automatic revert (newest wave first), a backfill reverted, an
/// irreversible phase halted instead, and a revert by hand. Every outcome read back from PostgreSQL.
struct CanaryRevertTests {
    /// Three waves over two shards: first (2), second (3), third (4).
    static let tenants: [(id: String, shard: String, wave: String)] = [
        ("c1", "a", "first"), ("c2", "b", "first"),
        ("p1", "a", "second"), ("p2", "b", "second"), ("p3", "a", "second"),
        ("r1", "a", "third"), ("r2", "b", "third"), ("r3", "a", "third"), ("r4", "b", "third"),
    ]

    static func policy(checks: String, onFailure: String = "revert", bake: String = "300ms") -> String {
        """
        policy: canary
        waves:
          - {name: first, select: {labels: {wave: first}}, bake: \(bake)}
          - {name: second, select: {labels: {wave: second}}, bake: \(bake)}
          - {name: third, select: {labels: {wave: third}}, by: shard, bake: \(bake)}
        parallel: 4
        per_shard_parallel: 2
        retries: {attempts: 1, backoff: 10ms}
        checks:
        \(checks)
        on_failure: \(onFailure)
        """
    }

    /// Unhealthy once the tenant has `users.<column>` and its `health.ok` is false.
    static func healthCheck(column: String) -> String {
        """
          - name: healthy
            sql: "SELECT ok OR NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = '\(column)') FROM health"
            scope: tenant
            interval: 100ms
        """
    }

    static let twoPhases = """
        change: 0001_nickname
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN nickname text;
            down: ALTER TABLE users DROP COLUMN nickname;
          - name: tag
            up: ALTER TABLE users ADD COLUMN tag text;
            down: ALTER TABLE users DROP COLUMN tag;
        """

    @Test(.timeLimit(.minutes(10)))
    func onFailureQuarantineRevertsOnlyTheUnhealthyTenantAndGoesOn() async throws {
        let rig = try await CanaryRig.make("cy-quar", tenants: Self.tenants)
        let sick = rig.tenantsOf(wave: "second")[1]
        _ = try rig.query(sick, "UPDATE health SET ok = false")
        let change = try canaryChange(Self.twoPhases)
        let policy = try canaryPolicy(
            Self.policy(checks: Self.healthCheck(column: "nickname"), onFailure: "quarantine")
                + "\nfailure_budget: {per_wave: 1, total: 1}")
        let outcome = try await rig.rollout(change, policy)
        guard case .done = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        // The unhealthy tenant: the phase reverted there alone, the later phase never ran there.
        #expect(try rig.column(sick, "nickname") == nil)
        #expect(try rig.column(sick, "tag") == nil)
        #expect(try rig.ledger(sick, change: change.id) == ["expand:reverted"])
        #expect(try rig.stepStates("expand")[sick.id] == "quarantined")
        #expect(try rig.stepStates("tag")[sick.id] == "quarantined")
        // Everyone else has both phases, once.
        for tenant in rig.fleet.tenants where tenant.id != sick.id {
            #expect(try rig.column(tenant, "nickname") == "text", "tenant \(tenant.id)")
            #expect(try rig.ledger(tenant, change: change.id) == ["expand:live", "tag:live"], "tenant \(tenant.id)")
        }
        #expect(
            try rig.journal(
                "SELECT count(*) FROM flotilla.events WHERE kind = 'quarantined' AND message LIKE '%\(sick.id)%'")
                == "1")
    }

    @Test(.timeLimit(.minutes(10)))
    func onFailureQuarantineBeyondTheBudgetRevertsThePhase() async throws {
        let rig = try await CanaryRig.make("cy-quar2", tenants: Self.tenants)
        for tenant in rig.tenantsOf(wave: "second").prefix(2) {
            _ = try rig.query(tenant, "UPDATE health SET ok = false")
        }
        let change = try canaryChange(Self.twoPhases)
        let policy = try canaryPolicy(
            Self.policy(
                checks: Self.healthCheck(column: "nickname").replacingOccurrences(
                    of: "scope: tenant", with: "scope: tenant\n    failure_limit: 1"), onFailure: "quarantine")
                + "\nfailure_budget: {per_wave: 1, total: 1}")
        let outcome = try await rig.rollout(change, policy)
        guard case .reverted = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        for tenant in rig.tenantsOf(wave: "first") + rig.tenantsOf(wave: "second") {
            #expect(try rig.column(tenant, "nickname") == nil, "tenant \(tenant.id)")
        }
        for tenant in rig.tenantsOf(wave: "third") { #expect(try rig.hasLedger(tenant) == false) }
    }

    @Test(.timeLimit(.minutes(10)))
    func sqlCheckFailingInSecondWaveRevertsBothWavesAndNeverTouchesTheThird() async throws {
        let rig = try await CanaryRig.make("cy-sql", tenants: Self.tenants)
        for tenant in rig.tenantsOf(wave: "second") { _ = try rig.query(tenant, "UPDATE health SET ok = false") }
        let change = try canaryChange(
            """
            change: 0001_nickname
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN nickname text;
                down: ALTER TABLE users DROP COLUMN nickname;
            """)
        let policy = try canaryPolicy(Self.policy(checks: Self.healthCheck(column: "nickname")))
        let events = EventLog()

        let outcome = try await rig.rollout(change, policy, events: events)
        guard case .reverted(let id, let reason) = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 3)
        // The report names the check, its last measurements and the tenants that had the phase.
        #expect(reason.contains("check healthy (sql, scope tenant) failed in wave second of phase expand"))
        #expect(reason.contains("last measurements:") && reason.contains("fail: returned false"))
        #expect(reason.contains("wave second (3): p1, p2, p3; wave first (2): c1, c2"))

        // Waves first and second: the column is gone and the ledger row is marked reverted.
        for tenant in rig.tenantsOf(wave: "first") + rig.tenantsOf(wave: "second") {
            #expect(try rig.column(tenant, "nickname") == nil, "tenant \(tenant.id)")
            #expect(try rig.ledger(tenant, change: change.id) == ["expand:reverted"], "tenant \(tenant.id)")
        }
        // Wave third: never touched — no ledger, no column, no step started.
        for tenant in rig.tenantsOf(wave: "third") {
            #expect(try rig.hasLedger(tenant) == false, "tenant \(tenant.id)")
            #expect(try rig.column(tenant, "nickname") == nil)
        }
        let states = try rig.stepStates("expand")
        for tenant in rig.fleet.tenants {
            let expected = tenant.labels["wave"] == "third" ? "pending" : "reverted"
            #expect(states[tenant.id] == expected, "tenant \(tenant.id)")
        }
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.steps WHERE wave = 'third' AND started_at IS NOT NULL")
                == "0")
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts WHERE id = '\(id)'") == "reverted")

        // The journal: the check failed, then every tenant of both waves was reverted, newest wave first.
        let kinds = try rig.eventKinds()
        #expect(kinds.contains("check-failed"))
        #expect(kinds.filter { $0 == "step-reverted" }.count == 5)
        #expect(kinds.last == "reverted")
        #expect(
            try rig.journal(
                """
                SELECT (SELECT max(e.id) FROM flotilla.events e JOIN flotilla.steps s ON s.tenant = e.tenant AND s.phase = e.phase
                        WHERE e.kind = 'step-reverted' AND s.wave = 'second')
                     < (SELECT min(e.id) FROM flotilla.events e JOIN flotilla.steps s ON s.tenant = e.tenant AND s.phase = e.phase
                        WHERE e.kind = 'step-reverted' AND s.wave = 'first')
                """) == "t")
        // Measurements: passes in wave first, failures only on the second wave's tenants.
        #expect(
            try rig.journal("SELECT string_agg(DISTINCT tenant, ',') FROM flotilla.measurements WHERE verdict = 'fail'")
                .split(separator: ",").allSatisfy { ["p1", "p2", "p3"].contains(String($0)) })
        #expect(try rig.journal("SELECT count(*) > 0 FROM flotilla.measurements WHERE verdict = 'fail'") == "t")
        #expect(
            try rig.journal(
                "SELECT count(DISTINCT tenant) FROM flotilla.measurements WHERE wave = 'first' AND verdict = 'pass'")
                == "2")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE wave = 'third'") == "0")
        #expect(
            try rig.journal("SELECT string_agg(wave || ':' || verdict, ',' ORDER BY id) FROM flotilla.check_verdicts")
                == "first:passed,second:failed")
        // Ledgers and journal agree, tenant by tenant.
        for tenant in rig.fleet.tenants {
            let reverted = try rig.ledger(tenant, change: change.id) == ["expand:reverted"]
            #expect(reverted == (states[tenant.id] == "reverted"), "tenant \(tenant.id)")
        }
        #expect(events.all.contains { if case .checkFailed(check: "healthy", _) = $0 { true } else { false } })
    }

    @Test(.timeLimit(.minutes(10)))
    func backfillPhaseIsRevertedAndTheEarlierPhaseStays() async throws {
        let rig = try await CanaryRig.make("cy-backfill", tenants: Self.tenants)
        for tenant in rig.tenantsOf(wave: "second") {
            _ = try rig.query(tenant, "UPDATE users SET email = 'bad' || id || '@example.com' WHERE id % 4 = 0")
        }
        let change = try canaryChange(
            """
            change: 0002_score
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN score integer;
                down: ALTER TABLE users DROP COLUMN score;
              - name: backfill
                backfill: {table: users, set: "score = id * 2", where: "score IS NULL", batch_size: 7, revert: "score = NULL"}
            """)
        // Scored users with a "bad" email are unhealthy: only the second wave has them, only after the backfill.
        let policy = try canaryPolicy(
            Self.policy(
                checks: """
                      - name: no-bad-scores
                        sql: "SELECT count(*) FROM users WHERE email LIKE 'bad%' AND to_jsonb(users) ->> 'score' IS NOT NULL"
                        max: 0
                        interval: 100ms
                    """))
        let outcome = try await rig.rollout(change, policy)
        guard case .reverted(_, let reason) = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        #expect(reason.contains("check no-bad-scores") && reason.contains("phase backfill"))
        #expect(reason.contains("above max 0"))
        for tenant in rig.fleet.tenants {
            let wave = tenant.labels["wave"]!
            // Expand passed fleet-wide and stays; the backfill is undone where it ran.
            #expect(try rig.column(tenant, "score") == "integer", "tenant \(tenant.id)")
            #expect(
                try rig.query(tenant, "SELECT count(*) FROM users WHERE score IS NOT NULL") == "0",
                "tenant \(tenant.id)")
            let ledger = try rig.ledger(tenant, change: change.id)
            #expect(
                ledger == (wave == "third" ? ["expand:live"] : ["expand:live", "backfill:reverted"]),
                "tenant \(tenant.id)")
        }
        let expand = try rig.stepStates("expand")
        let backfill = try rig.stepStates("backfill")
        for tenant in rig.fleet.tenants {
            #expect(expand[tenant.id] == "applied")
            #expect(
                backfill[tenant.id] == (tenant.labels["wave"] == "third" ? "pending" : "reverted"),
                "tenant \(tenant.id)")
        }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts") == "reverted")
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE verdict = 'fail' AND phase = 'backfill'")
                != "0")
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE verdict = 'fail' AND phase = 'expand'")
                == "0")
    }

    @Test(.timeLimit(.minutes(10)))
    func irreversiblePhaseWhoseCheckFailsHaltsAndRevertsNothing() async throws {
        let rig = try await CanaryRig.make("cy-irrev", tenants: Self.tenants)
        for tenant in rig.fleet.tenants { _ = try rig.query(tenant, "ALTER TABLE users ADD COLUMN legacy text") }
        for tenant in rig.tenantsOf(wave: "second") { _ = try rig.query(tenant, "UPDATE health SET ok = false") }
        let change = try canaryChange(
            """
            change: 0003_drop_legacy
            phases:
              - name: contract
                reversible: false
                up: ALTER TABLE users DROP COLUMN legacy; -- flotilla:ignore drop-column the application stopped using it
            """)
        let policy = try canaryPolicy(
            Self.policy(
                checks: """
                      - name: healthy
                        sql: "SELECT ok OR EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'legacy') FROM health"
                        interval: 100ms
                    """))
        let outcome = try await rig.rollout(change, policy)
        guard case .halted(let id, let reason) = outcome else {
            Issue.record("expected halted, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 3)
        #expect(reason.contains("check healthy"))
        #expect(reason.contains("phase contract is not reversible, so nothing was reverted"))
        for tenant in rig.fleet.tenants {
            let applied = tenant.labels["wave"] != "third"
            #expect(try rig.column(tenant, "legacy") == (applied ? nil : "text"), "tenant \(tenant.id)")
            #expect(
                try rig.ledger(tenant, change: change.id) == (applied ? ["contract:live"] : []), "tenant \(tenant.id)")
        }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts WHERE id = '\(id)'") == "halted")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'reverted'") == "0")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'applied'") == "5")
        let kinds = try rig.eventKinds()
        #expect(kinds.contains("check-failed") && kinds.contains("halted"))
        #expect(!kinds.contains("step-reverted") && !kinds.contains("reverted"))

        // A revert by hand refuses too, and touches nothing.
        let manual = try await rig.withEngine { engine, _ in
            try await engine.revert(rollout: id, change: change, policy: policy)
        }
        guard case .refused(_, let why) = manual else {
            Issue.record("expected refused, got \(manual)")
            return
        }
        #expect(why.contains("phase contract is not reversible"))
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'applied'") == "5")
    }

    @Test(.timeLimit(.minutes(10)))
    func onFailureHaltKeepsEverythingAsItIs() async throws {
        let rig = try await CanaryRig.make("cy-halt", tenants: Self.tenants)
        for tenant in rig.tenantsOf(wave: "second") { _ = try rig.query(tenant, "UPDATE health SET ok = false") }
        let change = try canaryChange(
            """
            change: 0004_nickname
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN nickname text;
                down: ALTER TABLE users DROP COLUMN nickname;
            """)
        let policy = try canaryPolicy(Self.policy(checks: Self.healthCheck(column: "nickname"), onFailure: "halt"))
        let outcome = try await rig.rollout(change, policy)
        guard case .halted = outcome else {
            Issue.record("expected halted, got \(outcome)")
            return
        }
        for tenant in rig.tenantsOf(wave: "first") + rig.tenantsOf(wave: "second") {
            #expect(try rig.column(tenant, "nickname") == "text")
            #expect(try rig.ledger(tenant, change: change.id) == ["expand:live"])
        }
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'reverted'") == "0")
    }

    @Test(.timeLimit(.minutes(10)))
    func revertByHandGoesPhaseByPhaseInReverseOrder() async throws {
        let rig = try await CanaryRig.make("cy-manual", tenants: Self.tenants)
        let change = try canaryChange(
            """
            change: 0005_score
            phases:
              - name: expand
                up: ALTER TABLE users ADD COLUMN score integer;
                down: ALTER TABLE users DROP COLUMN score;
              - name: backfill
                backfill: {table: users, set: "score = id", where: "score IS NULL", batch_size: 5, revert: "score = NULL"}
              - name: index
                up: CREATE INDEX CONCURRENTLY users_score ON users (score);
                down: DROP INDEX CONCURRENTLY users_score;
            """)
        let policy = try canaryPolicy(
            Self.policy(
                checks: """
                      - {name: readable, sql: "SELECT count(*) >= 0 FROM users"}
                    """, bake: "0s"))
        let outcome = try await rig.rollout(change, policy)
        guard case .done(let id) = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        let events = EventLog()
        // Only the index first (--phase index).
        let first = try await rig.withEngine(observe: events.add) { engine, _ in
            try await engine.revert(rollout: id, change: change, policy: policy, phase: "index")
        }
        guard case .reverted(let report) = first else {
            Issue.record("expected reverted, got \(first)")
            return
        }
        #expect(report.phases.map(\.phase) == ["index"])
        #expect(report.phases[0].waves.map(\.wave) == ["third", "second", "first"])
        #expect(report.phases[0].tenantCount == 9)
        for tenant in rig.fleet.tenants {
            #expect(try rig.ledger(tenant, change: change.id) == ["expand:live", "backfill:live", "index:reverted"])
        }
        // The index is gone from each tenant's own schema (a no-transaction down runs in the tenant's search_path).
        for tenant in rig.fleet.tenants {
            #expect(
                try rig.query(
                    tenant,
                    "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_score' AND schemaname = current_schema()")
                    == "0", "tenant \(tenant.id)")
        }
        // Then the rest: backfill before expand.
        let rest = try await rig.withEngine { engine, _ in
            try await engine.revert(rollout: id, change: change, policy: policy)
        }
        guard case .reverted(let second) = rest else {
            Issue.record("expected reverted, got \(rest)")
            return
        }
        #expect(second.phases.map(\.phase) == ["backfill", "expand"])
        for tenant in rig.fleet.tenants {
            #expect(try rig.column(tenant, "score") == nil, "tenant \(tenant.id)")
            #expect(
                try rig.ledger(tenant, change: change.id) == ["expand:reverted", "backfill:reverted", "index:reverted"])
        }
        #expect(try rig.journal("SELECT DISTINCT state FROM flotilla.steps") == "reverted")
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts") == "reverted")
        #expect(
            try rig.journal(
                """
                SELECT (SELECT max(id) FROM flotilla.events WHERE kind = 'step-reverted' AND phase = 'backfill')
                     < (SELECT min(id) FROM flotilla.events WHERE kind = 'step-reverted' AND phase = 'expand')
                """) == "t")
        #expect(try rig.eventKinds().filter { $0 == "revert-started" }.count == 2)
        // Nothing left to revert.
        let again = try await rig.withEngine { engine, _ in
            try await engine.revert(rollout: id, change: change, policy: policy)
        }
        #expect(again == .nothingToRevert(rollout: id))
    }
}
