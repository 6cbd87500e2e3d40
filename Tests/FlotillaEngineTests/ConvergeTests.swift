import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `flotilla converge` through the real binary: new tenants are brought up change by change in `requires` order, to
/// the phases the fleet has reached and no further, and a converge killed half-way resumes exactly. Everything is
/// read back from the tenants' ledgers and the journal.
@Suite(.serialized)
struct ConvergeTests {
    /// The fault suite's policy (one wave, 4 at a time, halt on failure), named `p`.
    static let policy = FaultTests.policy.replacingOccurrences(of: "policy: faults", with: "policy: p")

    /// The changes: 0001 → 0002 → 0003 (expand, then a gated contract). `sleep` slows each step; with `gate`, 0002
    /// waits for the advisory lock 4242 (a test holds it to stop a converge there) under a 60 s lock timeout.
    static func changes(sleep: String = "0", gate: Bool = false) -> [String: String] {
        let wait = gate ? "SELECT pg_advisory_xact_lock(4242); " : ""
        let policy =
            gate ? Self.policy.replacingOccurrences(of: "lock_timeout: 5s", with: "lock_timeout: 60s") : Self.policy
        return [
            "fleets/f/changes/0001_a.yaml": """
            change: 0001_a
            phases:
              - name: p
                up: "SELECT pg_sleep(\(sleep)); ALTER TABLE users ADD COLUMN a integer;"
                down: ALTER TABLE users DROP COLUMN a;
            """,
            "fleets/f/changes/0002_b.yaml": """
            change: 0002_b
            requires: [0001_a]
            phases:
              - name: p
                up: "\(wait)SELECT pg_sleep(\(sleep)); ALTER TABLE users ADD COLUMN b integer;"
                down: ALTER TABLE users DROP COLUMN b;
            """,
            "fleets/f/changes/0003_c.yaml": """
            change: 0003_c
            requires: [0002_b]
            phases:
              - name: expand
                up: "SELECT pg_sleep(\(sleep)); ALTER TABLE users ADD COLUMN c integer;"
                down: ALTER TABLE users DROP COLUMN c;
              - name: contract
                gate: approval
                up: COMMENT ON TABLE users IS 'contracted';
                down: COMMENT ON TABLE users IS NULL;
            """,
            "policies/p.yaml": policy,
        ]
    }

    static func fleetYAML(control: ConnectionURL, shard: ConnectionURL, ids: [String]) -> String {
        """
        fleet: f
        control: \(postgresURL(control))
        shards:
          - {name: s1, url: "\(postgresURL(shard))"}
        tenants:
        \(ids.map { "  - {id: \($0), shard: s1, schema: tenant_\($0)}" }.joined(separator: "\n"))
        """
    }

    static func run(_ arguments: [String], in folder: URL, limit: Duration = .seconds(180)) async throws -> (
        Int32?, String
    ) {
        let binary = try CommandLineResumeTests.flotillaBinary()
        let child = try CommandLineResumeTests.start(binary, in: folder, arguments: arguments, log: "out.log")
        let status = try await CommandLineResumeTests.wait(child, limit: limit)
        return (status, (try? String(contentsOf: child.output, encoding: .utf8)) ?? "")
    }

    /// Writes the workspace (the changes, the policy, a fleet of `ids`) and rolls `changes` out to it, one after another,
    /// each stopping at its approval gate.
    static func rollOut(
        _ changes: [String], to ids: [String], in folder: URL, control: ConnectionURL, shard: ConnectionURL,
        sleep: String = "0", gate: Bool = false
    ) async throws {
        try FaultTests.write(Self.changes(sleep: sleep, gate: gate), in: folder)
        try FaultTests.write(
            ["fleets/f/fleet.yaml": Self.fleetYAML(control: control, shard: shard, ids: ids)], in: folder)
        for change in changes {
            let (status, output) = try await Self.run(
                ["rollout", "--fleet", "f", "--change", change, "--policy", "p", "--yes", "--no-wait"], in: folder)
            #expect(status == 0, "rollout \(change): \(output)")
        }
    }

    /// The live ledger rows of a tenant, `change/phase` in the order they were applied.
    static func ledger(_ shard: ConnectionURL, _ id: String) throws -> [String] {
        let text = try psql(
            shard,
            "SELECT string_agg(change || '/' || phase, ',' ORDER BY applied_at, id) FROM tenant_\(id).flotilla_history WHERE reverted_at IS NULL"
        )
        return text.isEmpty ? [] : text.split(separator: ",").map(String.init)
    }

    @Test(.timeLimit(.minutes(10)))
    func newTenantsGetTheFleetsPhasesInOrderAndStopBeforeAnUnreachedContract() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "converge_shard")
        let control = try await TestCluster.shared.freshDatabase(prefix: "converge_ctl")
        let old = ["t1", "t2", "t3"]
        let new = ["n1", "n2"]
        try createSchemaTenants(shard, schemas: (old + new).map { "tenant_\($0)" }, rows: 3)
        let folder = try makeScratchDirectory(prefix: "flotilla-converge")
        defer { try? FileManager.default.removeItem(at: folder) }
        try await Self.rollOut(["0001_a", "0002_b", "0003_c"], to: old, in: folder, control: control, shard: shard)
        // The fleet has 0003's expand; its contract waits for approval.
        #expect(try Self.ledger(shard, "t1") == ["0001_a/p", "0002_b/p", "0003_c/expand"])

        // Two tenants join the fleet (created, say, by the application's sign-up).
        try FaultTests.write(
            ["fleets/f/fleet.yaml": Self.fleetYAML(control: control, shard: shard, ids: old + new)], in: folder)
        let (behind, censusOutput) = try await Self.run(["census", "--fleet", "f"], in: folder)
        #expect(behind == 3, "census before converge: \(censusOutput)")

        let (status, output) = try await Self.run(["converge", "--fleet", "f", "--yes"], in: folder)
        #expect(status == 0, "converge: \(output)")
        for id in new {
            #expect(try Self.ledger(shard, id) == ["0001_a/p", "0002_b/p", "0003_c/expand"], "tenant \(id)")
            #expect(
                try psql(
                    shard,
                    "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tenant_\(id)' AND table_name = 'users' AND column_name IN ('a', 'b', 'c')"
                ) == "3")
            #expect(try psql(shard, "SELECT obj_description('tenant_\(id).users'::regclass)") == "")
        }
        // The old tenants were not touched again, and each converge is a journaled rollout of its own kind.
        #expect(try Self.ledger(shard, "t1") == ["0001_a/p", "0002_b/p", "0003_c/expand"])
        #expect(
            try psql(
                control,
                "SELECT string_agg(change || ':' || state, ',' ORDER BY change) FROM flotilla.rollouts WHERE kind = 'converge'"
            )
                == "0001_a:done,0002_b:done,0003_c:done")
        #expect(
            try psql(
                control,
                "SELECT count(*) FROM flotilla.steps s JOIN flotilla.rollouts r ON r.id = s.rollout_id WHERE r.kind = 'converge' AND s.tenant NOT IN ('n1', 'n2')"
            ) == "0")
        let (uniform, after) = try await Self.run(["census", "--fleet", "f"], in: folder)
        #expect(uniform == 0, "census after converge: \(after)")
        let (again, nothing) = try await Self.run(["converge", "--fleet", "f", "--yes"], in: folder)
        #expect(again == 0, "\(nothing)")
        #expect(nothing.contains("no lagging tenant"), "\(nothing)")
    }

    @Test(.timeLimit(.minutes(10)))
    func convergeKilledHalfWayResumesExactly() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "converge_kill")
        let control = try await TestCluster.shared.freshDatabase(prefix: "converge_kill_ctl")
        let old = ["t1"]
        let new = (1...6).map { "n\($0)" }
        try createSchemaTenants(shard, schemas: (old + new).map { "tenant_\($0)" }, rows: 3)
        let folder = try makeScratchDirectory(prefix: "flotilla-converge-kill")
        defer { try? FileManager.default.removeItem(at: folder) }
        try await Self.rollOut(
            ["0001_a", "0002_b", "0003_c"], to: old, in: folder, control: control, shard: shard, sleep: "0.1",
            gate: true)
        // 0002 waits at the gate while this session holds it: the converge stops there for as long as the test wants.
        let gate = try await SideSession.open(shard)
        try await gate.execute("SELECT pg_advisory_lock(4242)")
        try FaultTests.write(
            ["fleets/f/fleet.yaml": Self.fleetYAML(control: control, shard: shard, ids: old + new)], in: folder)
        let binary = try CommandLineResumeTests.flotillaBinary()
        let child = try CommandLineResumeTests.start(
            binary, in: folder, arguments: ["converge", "--fleet", "f", "--yes", "--policy", "p"], log: "kill.log")
        // Killed once the converge has brought 0001 to the new tenants and waits at 0002's gate.
        let waiting = try await eventually(within: .seconds(120), every: .milliseconds(100)) {
            let rows = try psql(
                shard, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted")
            return (Int(rows) ?? 0) >= 1
        }
        try #require(waiting, "the converge never reached 0002 within 120 s")
        kill(child.process.processIdentifier, SIGKILL)
        _ = try await CommandLineResumeTests.wait(child, limit: .seconds(10))
        // The kill landed mid-converge: a converge rollout was left unfinished, and no new tenant has 0002 or 0003.
        #expect(
            try psql(control, "SELECT count(*) FROM flotilla.rollouts WHERE kind = 'converge' AND state <> 'done'")
                == "1")
        for id in new { #expect(try !Self.ledger(shard, id).contains("0002_b/p"), "tenant \(id)") }
        try await gate.execute("SELECT pg_advisory_unlock(4242)")
        try await gate.connection.close()

        let (status, output) = try await Self.run(["converge", "--fleet", "f", "--yes", "--policy", "p"], in: folder)
        #expect(status == 0, "rerun: \(output)")
        for id in new {
            let rows = try Self.ledger(shard, id)
            #expect(rows == ["0001_a/p", "0002_b/p", "0003_c/expand"], "tenant \(id): \(rows); rerun: \(output)")
        }
        let (uniform, after) = try await Self.run(["census", "--fleet", "f"], in: folder)
        #expect(uniform == 0, "census after the resumed converge: \(after)")
    }

    /// A rollout of a change whose requirement some tenant lacks refuses to start (exit 2, naming the tenant, nothing
    /// applied anywhere); `--skip-lagging` leaves that tenant out and journals it; `converge` then brings it up.
    @Test(.timeLimit(.minutes(10)))
    func rolloutRefusesTenantsThatLackARequiredChange() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "requires_shard")
        let control = try await TestCluster.shared.freshDatabase(prefix: "requires_ctl")
        let old = ["t1", "t2"]
        try createSchemaTenants(shard, schemas: (old + ["n1"]).map { "tenant_\($0)" }, rows: 3)
        let folder = try makeScratchDirectory(prefix: "flotilla-requires")
        defer { try? FileManager.default.removeItem(at: folder) }
        try await Self.rollOut(["0001_a", "0002_b"], to: old, in: folder, control: control, shard: shard)
        try FaultTests.write(
            ["fleets/f/fleet.yaml": Self.fleetYAML(control: control, shard: shard, ids: old + ["n1"])], in: folder)
        let arguments = ["rollout", "--fleet", "f", "--change", "0003_c", "--policy", "p", "--yes", "--no-wait"]
        let (refused, message) = try await Self.run(arguments, in: folder)
        #expect(refused == 2, "\(message)")
        #expect(message.contains("n1 (shard s1): lacks 0001_a, 0002_b"), "\(message)")
        #expect(message.contains("flotilla converge --fleet f"), "\(message)")
        #expect(try Self.ledger(shard, "t1") == ["0001_a/p", "0002_b/p"], "nothing was applied")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.rollouts WHERE change = '0003_c'") == "0")

        let (skipped, output) = try await Self.run(arguments + ["--skip-lagging"], in: folder)
        #expect(skipped == 0, "\(output)")
        #expect(try Self.ledger(shard, "t1") == ["0001_a/p", "0002_b/p", "0003_c/expand"])
        #expect(try psql(shard, "SELECT to_regclass('tenant_n1.flotilla_history') IS NULL") == "t")
        #expect(
            try psql(
                control,
                "SELECT count(*) FROM flotilla.events e JOIN flotilla.rollouts r ON r.id = e.rollout_id WHERE r.change = '0003_c' AND e.kind = 'set-aside' AND e.message LIKE '%n1%'"
            ) == "1")
        #expect(
            try psql(
                control,
                "SELECT count(*) FROM flotilla.steps s JOIN flotilla.rollouts r ON r.id = s.rollout_id WHERE r.change = '0003_c' AND s.tenant = 'n1'"
            ) == "0")

        let (converged, log) = try await Self.run(["converge", "--fleet", "f", "--yes"], in: folder)
        #expect(converged == 0, "\(log)")
        #expect(try Self.ledger(shard, "n1") == ["0001_a/p", "0002_b/p", "0003_c/expand"])
    }
}
