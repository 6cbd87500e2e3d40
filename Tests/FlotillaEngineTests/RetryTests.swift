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

/// `flotilla retry`: a rollout's quarantined tenant, once its cause is fixed, runs again as a rollout of kind retry
/// and gets the phases it lacks, once.
@Suite(.serialized)
struct RetryTests {
    static let change = """
        change: 0001_profiles
        phases:
          - name: expand
            up: ALTER TABLE profiles ADD COLUMN nick text;
            down: ALTER TABLE profiles DROP COLUMN nick;
          - name: more
            up: ALTER TABLE profiles ADD COLUMN bio text;
            down: ALTER TABLE profiles DROP COLUMN bio;
        """

    static let policy = """
        policy: lenient
        waves:
          - {name: first, select: {tenants: [q1]}}
          - {name: rest, select: {remaining: true}}
        retries: {attempts: 1, backoff: 10ms}
        failure_budget: {per_wave: 1, total: 1}
        on_failure: quarantine
        """

    /// Four tenants with a `profiles` table, except q3, whose step fails (42P01) and is quarantined.
    static func prepare() async throws -> (ConnectionURL, Rig, Change, Policy) {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "retry")
        let schemas = ["tenant_q1", "tenant_q2", "tenant_q3", "tenant_q4"]
        try createSchemaTenants(
            shard, schemas: schemas, rows: 2,
            extra: schemas.filter { $0 != "tenant_q3" }.map { "CREATE TABLE \($0).profiles (id bigint);" }
                .joined(separator: "\n"))
        let fleet = makeFleet(
            name: "retry-fleet", shards: [("a", shard)],
            tenants: ["q1", "q2", "q3", "q4"].map { schemaTenant($0, shard: "a") })
        return (shard, try await Rig(fleet: fleet), try parseChange(change), try parsePolicy(policy))
    }

    static func options(waitForApproval: Bool = true) -> RolloutEngine.Options {
        var options = RolloutEngine.Options(waitForApproval: waitForApproval)
        options.listenForHalts = false
        return options
    }

    @Test(.timeLimit(.minutes(10)))
    func aQuarantinedTenantFixedIsRetriedOnceWithTheRemainingPhases() async throws {
        let (shard, rig, change, policy) = try await Self.prepare()
        let options = Self.options()
        let outcome = try await rig.rollout(change, policy, options: options)
        guard case .done(let parent) = outcome else {
            Issue.record("expected done with q3 quarantined, got \(outcome)")
            return
        }
        #expect(try rig.steps(phase: "expand")["q3"]?.state == "quarantined")
        #expect(try rig.steps(phase: "more")["q3"]?.state == "quarantined")
        let broken = TenantProbe(shard: shard, schema: "tenant_q3")
        #expect(try broken.ledger(change: "0001_profiles").isEmpty)

        // --tenant naming a tenant that was not set aside is refused before anything runs.
        let refused = try await rig.withEngine { engine, _, _ in
            do {
                _ = try await engine.retryScope(of: parent, change: change, only: ["q1", "q3"])
                return nil as RetryError?
            } catch let error as RetryError {
                return error
            }
        }
        #expect(refused == .notSetAside(rollout: parent, tenants: ["q1"], setAside: ["q3"]))
        #expect(try rig.journal("SELECT count(*) FROM flotilla.rollouts") == "1")

        // The cause is fixed; the retry runs q3 alone, through both phases.
        _ = try psql(shard, "CREATE TABLE tenant_q3.profiles (id bigint)")
        let (scope, retried) = try await rig.withEngine { engine, _, _ in
            let scope = try await engine.retryScope(of: parent, change: change)
            return (scope, try await engine.retry(scope, policy: policy, options: options))
        }
        #expect(scope.tenants.map(\.id) == ["q3"])
        #expect(scope.change.phases.map(\.name) == ["expand", "more"])
        guard case .done(let retry) = retried else {
            Issue.record("expected the retry done, got \(String(describing: retried))")
            return
        }
        #expect(retry != parent)
        #expect(
            try rig.journal(
                "SELECT kind || '|' || coalesce(parent_id, '-') || '|' || state FROM flotilla.rollouts WHERE id = '\(retry)'"
            )
                == "retry|\(parent)|done")
        #expect(
            try rig.journal(
                "SELECT string_agg(tenant, ',') FROM flotilla.rollout_tenants WHERE rollout_id = '\(retry)'") == "q3")
        #expect(
            try rig.journal(
                "SELECT string_agg(phase || ':' || tenant || ':' || state, ',' ORDER BY phase_index) FROM flotilla.steps WHERE rollout_id = '\(retry)'"
            )
                == "expand:q3:applied,more:q3:applied")
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.events WHERE rollout_id = '\(parent)' AND kind = 'retried'")
                == "1")
        // q3 has both phases, once each; the others were not touched again.
        #expect(try broken.ledger(change: "0001_profiles").map(\.phase) == ["expand", "more"])
        #expect(try broken.columnType("bio", table: "profiles") == "text")
        for schema in ["tenant_q1", "tenant_q2", "tenant_q4"] {
            let probe = TenantProbe(shard: shard, schema: schema)
            #expect(try probe.ledger(change: "0001_profiles").map(\.phase) == ["expand", "more"])
        }

        // Settled: a second retry finds nothing to run, and the ledger is as it was.
        let again = try await rig.withEngine { engine, _, _ in
            let scope = try await engine.retryScope(of: parent, change: change)
            return (scope.tenants.map(\.id), try await engine.retry(scope, policy: policy, options: options))
        }
        #expect(again.0.isEmpty)
        #expect(again.1 == nil)
        #expect(try rig.journal("SELECT count(*) FROM flotilla.rollouts") == "2")
        #expect(try broken.ledger(change: "0001_profiles").count == 2)
    }

    @Test(.timeLimit(.minutes(10)))
    func aRetryStartsFromWhereTheTenantStoppedAndStopsWhereTheParentDid() async throws {
        let (shard, rig, change, policy) = try await Self.prepare()
        // q3 gets expand, then fails in `more` (its profiles already has bio) and is quarantined; the parent then
        // waits at the gate of a third phase it never applies anywhere.
        var extended = change
        let third = try parseChange(
            """
            change: 0001_profiles
            phases:
              - name: later
                gate: approval
                up: ALTER TABLE profiles ADD COLUMN late text;
                down: ALTER TABLE profiles DROP COLUMN late;
            """)
        extended.phases += third.phases
        _ = try psql(shard, "CREATE TABLE tenant_q3.profiles (id bigint)")
        _ = try psql(shard, "ALTER TABLE tenant_q3.profiles ADD COLUMN bio text")
        let options = Self.options(waitForApproval: false)
        let gated = extended
        let outcome = try await rig.rollout(gated, policy, options: options)
        guard case .awaitingApproval(let parent, "later") = outcome else {
            Issue.record("expected to wait at the gate, got \(outcome)")
            return
        }
        #expect(try rig.steps(phase: "more")["q3"]?.state == "quarantined")
        // A halted rollout can be retried; one that waits at a gate is still being worked.
        let early = try await rig.withEngine { engine, _, _ in
            do {
                _ = try await engine.retryScope(of: parent, change: gated)
                return nil as RetryError?
            } catch let error as RetryError {
                return error
            }
        }
        #expect(early == .notFinished(rollout: parent, state: .awaitingApproval))
        _ = try rig.journal("UPDATE flotilla.rollouts SET state = 'halted', reason = 'by hand' WHERE id = '\(parent)'")

        _ = try psql(shard, "ALTER TABLE tenant_q3.profiles DROP COLUMN bio")
        let (scope, retried) = try await rig.withEngine { engine, _, _ in
            let scope = try await engine.retryScope(of: parent, change: gated)
            return (scope, try await engine.retry(scope, policy: policy, options: options))
        }
        #expect(scope.change.phases.map(\.name) == ["expand", "more"])
        guard case .done(let retry) = retried else {
            Issue.record("expected the retry done, got \(String(describing: retried))")
            return
        }
        // expand was in q3's ledger already: recorded applied, not run again (one ledger row).
        let probe = TenantProbe(shard: shard, schema: "tenant_q3")
        #expect(try probe.ledger(change: "0001_profiles").map(\.phase) == ["expand", "more"])
        #expect(try probe.columnType("late", table: "profiles") == nil)
        #expect(
            try rig.journal(
                "SELECT string_agg(phase || ':' || state, ',' ORDER BY phase_index) FROM flotilla.steps WHERE rollout_id = '\(retry)'"
            )
                == "expand:applied,more:applied")
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts WHERE id = '\(parent)'") == "halted")
    }
}

/// The real `flotilla retry` and `flotilla status` on a workspace: exit codes, what they print, what PostgreSQL holds.
@Suite(.serialized)
struct RetryCommandTests {
    typealias Fixtures = ChildProcessFixtures

    @Test(.timeLimit(.minutes(10)))
    func retryAndStatusFromTheCommandLine() async throws {
        let workspace = try Fixtures.Workspace(prefix: "retry-cli")
        defer { workspace.remove() }
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }
        let fleet = try await Fixtures.Fleet.make(name: "retrycli", shards: 1, tenants: 4, idPrefix: "c")
        try fleet.createTenants()
        let shard = fleet.shards[0]
        _ = try psql(
            shard, ["c001", "c002", "c004"].map { "CREATE TABLE tenant_\($0).profiles (id bigint);" }.joined())
        try workspace.write("fleets/retrycli/fleet.yaml", fleet.yaml)
        try workspace.write("fleets/retrycli/changes/0001_profiles.yaml", RetryTests.change)
        try workspace.write(
            "policies/q.yaml",
            """
            policy: q
            waves:
              - {name: all, select: {remaining: true}}
            retries: {attempts: 1, backoff: 10ms}
            failure_budget: {per_wave: 1, total: 1}
            on_failure: quarantine
            """)
        let rollout = try await children.run(
            "rollout", ["rollout", "--fleet", "retrycli", "--change", "0001_profiles", "--policy", "q", "--yes"],
            limit: .seconds(120))
        #expect(rollout.exitStatus == 0, "\(rollout.transcript)")
        let parent = try psql(fleet.control, "SELECT id FROM flotilla.rollouts WHERE kind = 'rollout'")
        #expect(!parent.isEmpty)

        // A tenant that was not set aside: exit 2, nothing started.
        let wrong = try await children.run(
            "wrong", ["retry", parent, "--fleet", "retrycli", "--tenant", "c001", "--yes"])
        #expect(wrong.exitStatus == 2, "\(wrong.transcript)")
        #expect(wrong.errors.contains("tenant c001 is not quarantined or failed in rollout \(parent)"))
        #expect(try psql(fleet.control, "SELECT count(*) FROM flotilla.rollouts") == "1")

        // A fifth tenant appears in the fleet: status names it, in text and JSON.
        _ = try psql(shard, "CREATE SCHEMA tenant_c005; CREATE TABLE tenant_c005.profiles (id bigint);")
        let grown = Fixtures.Fleet(
            name: "retrycli", control: fleet.control, shards: fleet.shards, tenantCount: 5, idPrefix: "c")
        try workspace.write("fleets/retrycli/fleet.yaml", grown.yaml)
        let status = try await children.run("status", ["status", parent, "--fleet", "retrycli"])
        #expect(status.exitStatus == 0, "\(status.transcript)")
        #expect(
            status.output.contains(
                "1 tenant appeared since the rollout started — `flotilla converge` brings them up: c005"),
            "\(status.transcript)")
        #expect(status.output.contains("tenants: 4"), "\(status.transcript)")
        let json = try await children.run("status-json", ["status", parent, "--fleet", "retrycli", "--format", "json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let tenants = document?["tenants"] as? [String: Any]
        #expect(tenants?["started"] as? Int == 4, "\(json.transcript)")
        #expect(tenants?["appeared"] as? Int == 1, "\(json.transcript)")
        #expect(tenants?["appeared_tenants"] as? [String] == ["c005"], "\(json.transcript)")
        #expect((document?["rollout"] as? [String: Any])?["kind"] as? String == "rollout", "\(json.transcript)")

        // Fixed: the retry runs c003 alone (not c005), exit 0.
        _ = try psql(shard, "CREATE TABLE tenant_c003.profiles (id bigint)")
        let retry = try await children.run(
            "retry", ["retry", parent, "--fleet", "retrycli", "--yes"], limit: .seconds(120))
        #expect(retry.exitStatus == 0, "\(retry.transcript)")
        #expect(
            try psql(
                fleet.control,
                "SELECT kind || '|' || parent_id || '|' || state || '|' || (SELECT string_agg(tenant, ',') FROM flotilla.rollout_tenants t WHERE t.rollout_id = r.id) FROM flotilla.rollouts r WHERE kind = 'retry'"
            ) == "retry|\(parent)|done|c003")
        #expect(
            try psql(shard, "SELECT string_agg(phase, ',' ORDER BY id) FROM tenant_c003.flotilla_history")
                == "expand,more")
        #expect(try psql(shard, "SELECT to_regclass('tenant_c005.flotilla_history') IS NULL") == "t")

        // Nothing left to retry: said so, exit 0.
        let again = try await children.run("again", ["retry", parent, "--fleet", "retrycli", "--yes"])
        #expect(again.exitStatus == 0, "\(again.transcript)")
        #expect(again.output.contains("no quarantined or failed tenant to retry"), "\(again.transcript)")
        #expect(try psql(fleet.control, "SELECT count(*) FROM flotilla.rollouts") == "2")
    }

    @Test(.timeLimit(.minutes(10)))
    func aRetryKilledMidStepResumesAndAppliesNothingTwice() async throws {
        let workspace = try Fixtures.Workspace(prefix: "retry-kill")
        defer { workspace.remove() }
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }
        let fleet = try await Fixtures.Fleet.make(name: "retrykill", shards: 1, tenants: 3, idPrefix: "k")
        try fleet.createTenants()
        let shard = fleet.shards[0]
        _ = try psql(
            shard, "CREATE TABLE tenant_k001.profiles (id bigint); CREATE TABLE tenant_k002.profiles (id bigint);")
        try workspace.write("fleets/retrykill/fleet.yaml", fleet.yaml)
        // A tenant holding a table `slow` takes 4 s over expand (search_path is the tenant's schema).
        try workspace.write(
            "fleets/retrykill/changes/0001_profiles.yaml",
            """
            change: 0001_profiles
            phases:
              - name: expand
                up: |
                  SELECT pg_sleep(CASE WHEN to_regclass('slow') IS NULL THEN 0 ELSE 4 END);
                  ALTER TABLE profiles ADD COLUMN nick text;
                down: ALTER TABLE profiles DROP COLUMN nick;
              - name: more
                up: ALTER TABLE profiles ADD COLUMN bio text;
                down: ALTER TABLE profiles DROP COLUMN bio;
            """)
        try workspace.write(
            "policies/q.yaml",
            """
            policy: q
            waves:
              - {name: all, select: {remaining: true}}
            lock_timeout: 15s
            retries: {attempts: 3, backoff: 500ms}
            failure_budget: {per_wave: 1, total: 1}
            on_failure: quarantine
            """)
        let rollout = try await children.run(
            "rollout", ["rollout", "--fleet", "retrykill", "--change", "0001_profiles", "--policy", "q", "--yes"],
            limit: .seconds(120))
        #expect(rollout.exitStatus == 0, "\(rollout.transcript)")
        let parent = try psql(fleet.control, "SELECT id FROM flotilla.rollouts WHERE kind = 'rollout'")

        // Fixed, but slow: the retry is killed while k003's expand runs.
        _ = try psql(shard, "CREATE TABLE tenant_k003.profiles (id bigint); CREATE TABLE tenant_k003.slow (id int);")
        let first = try children.start("retry-1", ["retry", parent, "--fleet", "retrykill", "--yes"])
        let running = try await eventually(within: .seconds(120)) {
            Fixtures.journal(
                fleet.control,
                "SELECT s.state FROM flotilla.steps s JOIN flotilla.rollouts r ON r.id = s.rollout_id WHERE r.kind = 'retry' AND s.phase = 'expand'"
            ) == "running"
        }
        #expect(running, "\(first.transcript)")
        first.signal(SIGKILL)
        try await first.wait(limit: .seconds(30))
        #expect(first.killedBySignal)

        // Run again: the unfinished retry is resumed (no second one), and k003 has each phase once. (The killed
        // session's backend holds k003's locks until it sees its client gone, after its sleep: lock_timeout covers it.)
        let second = try await children.run(
            "retry-2", ["retry", parent, "--fleet", "retrykill", "--yes"], limit: .seconds(120))
        #expect(second.exitStatus == 0, "\(second.transcript)")
        #expect(
            try psql(
                fleet.control,
                "SELECT count(*) || '|' || string_agg(state, ',') FROM flotilla.rollouts WHERE kind = 'retry'")
                == "1|done")
        #expect(
            try psql(
                fleet.control,
                "SELECT string_agg(s.phase || ':' || s.tenant || ':' || s.state, ',' ORDER BY s.phase_index) FROM flotilla.steps s JOIN flotilla.rollouts r ON r.id = s.rollout_id WHERE r.kind = 'retry'"
            ) == "expand:k003:applied,more:k003:applied", "\(second.transcript)")
        #expect(
            try psql(
                fleet.control,
                "SELECT count(*) FROM flotilla.events e JOIN flotilla.rollouts r ON r.id = e.rollout_id WHERE r.kind = 'retry' AND e.kind = 'resumed'"
            ) == "1")
        #expect(
            try psql(
                shard,
                "SELECT string_agg(phase || ':' || (reverted_at IS NULL), ',' ORDER BY id) FROM tenant_k003.flotilla_history"
            )
                == "expand:true,more:true")
        #expect(try psql(shard, "SELECT count(*) FROM tenant_k001.flotilla_history") == "2")
    }
}
