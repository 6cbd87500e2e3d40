import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// The audit trail, through the real `flotilla` binary: who started, approved, halted and resumed, from where, read
/// back from `flotilla.audit` and from `flotilla audit --output json`; and a bad `notify:` stopping a rollout at its
/// line and column.
@Suite(.heavy)
struct AuditTests {
    static let gatedChange = """
        change: 0001_audit
        phases:
          - name: expand
            up: CREATE TABLE IF NOT EXISTS audited (id int);
            down: DROP TABLE IF EXISTS audited;
          - name: contract
            gate: approval
            up: CREATE TABLE IF NOT EXISTS audited_more (id int);
            down: DROP TABLE IF EXISTS audited_more;
        """

    @Test(.timeLimit(.minutes(10)))
    func rolloutApproveHaltResumeAreAudited() async throws {
        let workspace = try ChildProcessFixtures.Workspace(prefix: "flotilla-audit")
        defer { workspace.remove() }
        let marker = ChildProcessFixtures.ChangeFile(
            id: "0001_audit", phases: [.init(name: "expand", sleep: 0, marker: "audited")])
        let fleet = try await ChildProcessFixtures.Fleet.prepare(
            name: "audit-fleet", shards: 1, tenants: 3, idPrefix: "au", change: marker, in: workspace, canary: 1,
            parallel: 2, perShard: 2)
        try workspace.write("fleets/audit-fleet/changes/0001_audit.yaml", Self.gatedChange)
        let children = try ChildProcessFixtures.Children(workspace: workspace)
        defer { children.killRemaining() }

        let rollout = try await children.run(
            "rollout", fleet.rolloutArguments(marker) + ["--no-wait", "--by", "alice"], limit: .seconds(300))
        #expect(rollout.exitStatus == 0, "\(rollout.transcript)")
        let id = try psql(fleet.control, "SELECT id FROM flotilla.rollouts")
        #expect(try psql(fleet.control, "SELECT state FROM flotilla.rollouts") == "awaiting-approval")

        let approve = try await children.run("approve", ["approve", id, "--fleet", "audit-fleet", "--by", "bob"])
        #expect(approve.exitStatus == 0, "\(approve.transcript)")
        let halt = try await children.run(
            "halt", ["halt", "--fleet", "audit-fleet", "--reason", "audit check", "--by", "carol"])
        #expect(halt.exitStatus == 0, "\(halt.transcript)")
        // No --by: the OS user ($USER of the child).
        let resume = try await children.run("resume", ["resume", "--fleet", "audit-fleet"])
        #expect(resume.exitStatus == 0, "\(resume.transcript)")

        let rows = ChildProcessFixtures.rows(
            try psql(
                fleet.control,
                "SELECT actor, via, action, coalesce(fleet, ''), coalesce(change, ''), coalesce(rollout_id, ''), detail FROM flotilla.audit ORDER BY id"
            ))
        #expect(
            rows.map { $0.prefix(6).joined(separator: "|") } == [
                "alice|cli|rollout-start|audit-fleet|0001_audit|\(id)",
                "bob|cli|approve|audit-fleet|0001_audit|\(id)",
                "carol|cli|halt|audit-fleet||",
                "flotilla-tests|cli|resume|audit-fleet||",
            ], "\(rows)")
        #expect(rows.count == 4 && rows[1][6] == "phase contract" && rows[2][6] == "audit check", "\(rows)")
        #expect(
            try psql(fleet.control, "SELECT DISTINCT host FROM flotilla.audit")
                == ProcessInfo.processInfo.hostName)
        // The approval went through: the gate is open in the journal.
        #expect(try psql(fleet.control, "SELECT 'contract' = ANY (approved_phases) FROM flotilla.rollouts") == "t")

        let listed = try await children.run("audit", ["audit", "--fleet", "audit-fleet", "--output", "json"])
        #expect(listed.exitStatus == 0, "\(listed.transcript)")
        let entries = try #require(
            try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]], "\(listed.transcript)"
        )
        #expect(entries.map { $0["action"] as? String } == ["rollout-start", "approve", "halt", "resume"])
        #expect(entries.map { $0["actor"] as? String } == ["alice", "bob", "carol", "flotilla-tests"])
        #expect(entries.allSatisfy { $0["via"] as? String == "cli" })
        #expect(entries.first?["rollout"] as? String == id)

        let other = try await children.run("audit-other", ["audit", "--rollout", "r-none", "--fleet", "audit-fleet"])
        #expect(other.exitStatus == 0 && other.output.contains("no audit entries"), "\(other.transcript)")

        let status = try await children.run("status", ["status", id, "--fleet", "audit-fleet"])
        #expect(status.output.contains("rollout-start by alice (cli on"), "\(status.transcript)")
        #expect(status.output.contains("approve by bob (cli on"), "\(status.transcript)")
    }

    @Test(.timeLimit(.minutes(10)))
    func badNotifyStopsTheRolloutAtItsLineAndColumn() async throws {
        let workspace = try ChildProcessFixtures.Workspace(prefix: "flotilla-notify-bad")
        defer { workspace.remove() }
        let marker = ChildProcessFixtures.ChangeFile(
            id: "0001_bad", phases: [.init(name: "expand", sleep: 0, marker: "never")])
        let fleet = try await ChildProcessFixtures.Fleet.prepare(
            name: "bad-notify", shards: 1, tenants: 2, idPrefix: "bn", change: marker, in: workspace, canary: 1,
            parallel: 2, perShard: 2)
        try workspace.write(
            "policies/bad.yaml",
            """
            policy: bad
            waves:
              - {name: all, select: {remaining: true}}
            notify:
              url: ftp://hooks.example/flotilla
              events: [halted, exploded]
              secret_env: "not a name"
            """)
        let children = try ChildProcessFixtures.Children(workspace: workspace)
        defer { children.killRemaining() }
        let run = try await children.run("rollout", fleet.rolloutArguments(marker, policy: "bad"))
        #expect(run.exitStatus == 2, "\(run.transcript)")
        let errors = run.transcript
        #expect(errors.contains("policies/bad.yaml:5:8: error:"), "\(errors)")
        #expect(errors.contains("expected an http:// or https:// URL"), "\(errors)")
        #expect(errors.contains("policies/bad.yaml:6:20: error:"), "\(errors)")
        #expect(errors.contains("'exploded'"), "\(errors)")
        #expect(errors.contains("policies/bad.yaml:7:15: error:"), "\(errors)")
        // Nothing was touched: no rollout in the control store, no marker on any tenant.
        #expect(ChildProcessFixtures.journal(fleet.control, "SELECT count(*) FROM flotilla.rollouts") ?? "0" == "0")
        let outcomes = try fleet.outcomes(change: "0001_bad", phase: "expand", marker: "never")
        #expect(outcomes.count == 2 && outcomes.allSatisfy { !$0.marker }, "\(outcomes)")
    }
}
