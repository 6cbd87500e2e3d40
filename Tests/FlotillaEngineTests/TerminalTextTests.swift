import FlotillaEngine
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Stored text with control characters in it (a halt reason sent through the API, a tenant's error, a check's detail)
/// reaches the terminal of `flotilla status` and `flotilla halt` as visible `\xHH`, never as the bytes themselves;
/// `--format json` keeps the text, escaped by JSON. Runs the real binary against a control store on the test cluster.
struct TerminalTextTests {
    typealias Fixtures = ChildProcessFixtures

    /// What an escape sequence that clears the screen and homes the cursor looks like once made visible.
    static let visible = #"\x1b[2J\x1b[Hgone"#

    static func expectNoControlBytes(_ child: Fixtures.Child, sourceLocation: SourceLocation = #_sourceLocation) {
        let bytes = (try? Data(contentsOf: child.standardOutput)) ?? Data()
        #expect(!bytes.contains(0x1B), "ESC in the output of \(child.transcript)", sourceLocation: sourceLocation)
        let controls = child.output.unicodeScalars.filter {
            ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value)
        }
        #expect(controls.isEmpty, "control characters in \(child.transcript)", sourceLocation: sourceLocation)
    }

    @Test func statusAndHaltShowControlCharactersVisibly() async throws {
        let control = try await TestCluster.shared.freshDatabase(prefix: "tty")
        let workspace = try Fixtures.Workspace(prefix: "flotilla-tty")
        defer { workspace.remove() }
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }
        let url = postgresURL(control)

        let halt = try await children.run(
            "halt", ["halt", "--all", "--control", url, "--reason", "\u{1B}[2J\u{1B}[Hgone", "--by", "ev\u{9B}il"])
        #expect(halt.exitStatus == 0, "\(halt.transcript)")
        Self.expectNoControlBytes(halt)
        #expect(halt.output.contains(#"halted (every fleet) by ev\x9bil at "#), "\(halt.transcript)")
        #expect(halt.output.contains(Self.visible), "\(halt.transcript)")
        // Stored as given: only the printing makes it visible.
        #expect(
            try psql(
                control, "SELECT reason = E'\\x1b[2J\\x1b[Hgone' AND halted_by = E'ev\\u009bil' FROM flotilla.halts")
                == "t")

        try await withPostgresClient(control, logger: engineTestLogger) { client in
            try await ControlStore(client: client, logger: engineTestLogger).ensureCheckTables()
        }
        _ = try psql(
            control,
            """
            INSERT INTO flotilla.rollouts (id, fleet, change, policy, state, current_phase, reason)
            VALUES ('r-tty', E'fl\\teet', 'c1', 'p', 'halted', E'ex\\x07pand', E'\\x1b[2J\\x1b[Hgone');
            INSERT INTO flotilla.steps (rollout_id, phase, phase_index, wave, wave_index, tenant, shard, state, error)
            VALUES ('r-tty', E'ex\\x07pand', 0, 'canary', 0, E't\\x1b[31m1', 's1', 'failed', E'line one\\nline two\\x1b[0m'),
                   ('r-tty', E'ex\\x07pand', 0, 'canary', 0, 't2', 's1', 'applied', NULL);
            INSERT INTO flotilla.measurements
                (rollout_id, phase, wave, check_name, kind, scope, target, verdict, detail, at)
            VALUES ('r-tty', E'ex\\x07pand', 'canary', 'errors', 'sql', 'wave', 's1', 'fail', E'bad\\x1b]8;;x\\x07', now());
            """)

        let overview = try await children.run("overview", ["status", "--control", url])
        #expect(overview.exitStatus == 0, "\(overview.transcript)")
        Self.expectNoControlBytes(overview)
        #expect(overview.output.contains("HALT halted (every fleet) by ev\\x9bil"), "\(overview.transcript)")
        #expect(overview.output.contains(Self.visible), "\(overview.transcript)")
        #expect(overview.output.contains(#"fl\x09eet/c1  phase ex\x07pand"#), "\(overview.transcript)")

        for (name, extra) in [("rollout", [String]()), ("watch", ["--watch", "--interval", "0.2"])] {
            let status = try await children.run(name, ["status", "r-tty", "--control", url] + extra)
            #expect(status.exitStatus == 0, "\(status.transcript)")
            Self.expectNoControlBytes(status)
            let output = status.output
            #expect(output.contains("rollout r-tty: halted — change c1 on fleet fl\\x09eet"), "\(status.transcript)")
            #expect(output.contains("  reason: \(Self.visible)\n"), "\(status.transcript)")
            #expect(output.contains(#"  phase ex\x07pand"#), "\(status.transcript)")
            #expect(
                output.contains(#"      t\x1b[31m1 (shard s1): failed: line one\x0aline two\x1b[0m"#),
                "\(status.transcript)")
            #expect(output.contains(#"s1 fail: bad\x1b]8;;x\x07"#), "\(status.transcript)")
        }

        // JSON keeps the stored text; the encoder escapes it.
        let json = try await children.run("json", ["status", "r-tty", "--control", url, "--format", "json"])
        #expect(json.exitStatus == 0, "\(json.transcript)")
        let bytes = try Data(contentsOf: json.standardOutput)
        #expect(!bytes.contains(0x1B), "\(json.transcript)")
        let document = try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
        let rollout = try #require(document["rollout"] as? [String: Any])
        #expect(rollout["reason"] as? String == "\u{1B}[2J\u{1B}[Hgone")
        #expect(rollout["fleet"] as? String == "fl\teet")
    }
}
