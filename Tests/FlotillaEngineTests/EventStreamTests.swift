import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

@testable import FlotillaEngine

/// `--output json` and the live view, end to end: the real `flotilla` binary rolls a change out over a small fleet of
/// the shared cluster (a canary wave that bakes under a check, then the rest), and what it wrote is compared with
/// what the control store holds afterwards.
@Suite("Event stream and live view", .serialized, .timeLimit(.minutes(10)), .heavy)
struct EventStreamTests {
    typealias Fixtures = ChildProcessFixtures

    static let change = Fixtures.ChangeFile(
        id: "0001_stream",
        phases: [
            .init(name: "expand", sleep: 0.05, marker: "stream_expand"),
            .init(name: "contract", sleep: 0.05, marker: "stream_contract"),
        ])

    /// A canary of two tenants that bakes 1 s under a tenant check, then the rest.
    static func policy(_ fleet: Fixtures.Fleet) -> String {
        """
        policy: p
        waves:
          - {name: canary, select: {tenants: [\(fleet.id(1)), \(fleet.id(2))]}, bake: 1s}
          - {name: rest, select: {remaining: true}}
        parallel: 4
        per_shard_parallel: 2
        lock_timeout: 5s
        statement_timeout: 1m
        retries: {attempts: 3, backoff: 100ms}
        checks:
          - {name: alive, sql: "SELECT true", scope: tenant, interval: 300ms}

        """
    }

    struct Rig {
        let workspace: Fixtures.Workspace
        let children: Fixtures.Children
        let fleet: Fixtures.Fleet

        static func make(_ prefix: String) async throws -> Rig {
            let workspace = try Fixtures.Workspace(prefix: "flotilla-\(prefix)")
            let fleet = try await Fixtures.Fleet.prepare(
                name: prefix, shards: 2, tenants: 6, idPrefix: "e", change: EventStreamTests.change, in: workspace,
                canary: 2, parallel: 4, perShard: 2)
            try workspace.write("policies/p.yaml", EventStreamTests.policy(fleet))
            return Rig(workspace: workspace, children: try Fixtures.Children(workspace: workspace), fleet: fleet)
        }

        func journal(_ sql: String) throws -> [[String]] {
            Fixtures.rows(try psql(fleet.control, sql))
        }

        func remove() {
            children.killRemaining()
            workspace.remove()
        }
    }

    /// Each line of standard output as a JSON object (failing the test on a line that is not one).
    static func objects(_ output: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        output.split(separator: "\n").compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)", sourceLocation: sourceLocation)
            return object
        }
    }

    /// The event types and each type's fields (required ones apart), from `flotilla schema --events`.
    struct SchemaTypes {
        var fields: [String: Set<String>] = [:]
        var required: [String: Set<String>] = [:]
        var types: [String] = []

        init(_ text: String) throws {
            let schema = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            let properties = try #require(schema["properties"] as? [String: Any])
            let type = try #require(properties["type"] as? [String: Any])
            types = try #require(type["enum"] as? [String])
            for variant in try #require(schema["oneOf"] as? [[String: Any]]) {
                let name = try #require(variant["title"] as? String)
                fields[name] = Set(try #require(variant["properties"] as? [String: Any]).keys)
                required[name] = Set(try #require(variant["required"] as? [String]))
            }
        }

        /// What is wrong with one event against the schema (nil: nothing).
        func problem(_ object: [String: Any]) -> String? {
            guard let type = object["type"] as? String, types.contains(type), let known = fields[type] else {
                return "unknown type in \(object)"
            }
            let keys = Set(object.keys)
            if !keys.isSubset(of: known) { return "\(type): fields not in the schema: \(keys.subtracting(known))" }
            if let required = required[type], !required.isSubset(of: keys) {
                return "\(type): missing \(required.subtracting(keys))"
            }
            return nil
        }
    }

    static func string(_ object: [String: Any], _ key: String) -> String? { object[key] as? String }

    @Test func aWholeRolloutsStreamMatchesTheJournal() async throws {
        let rig = try await Rig.make("stream")
        defer { rig.remove() }
        let schemaRun = try await rig.children.run("schema", ["schema", "--events"])
        #expect(schemaRun.exitStatus == 0, "\(schemaRun.transcript)")
        let schema = try SchemaTypes(schemaRun.output)
        #expect(schema.types == EventType.allCases.map(\.rawValue))
        // The committed schema is the one the binary prints.
        let committed = try String(
            contentsOf: Fixtures.packageRoot.appendingPathComponent("docs/events.schema.json"), encoding: .utf8)
        #expect(
            committed.trimmingCharacters(in: .whitespacesAndNewlines)
                == schemaRun.output.trimmingCharacters(in: .whitespacesAndNewlines))

        let child = try await rig.children.run(
            "rollout", rig.fleet.rolloutArguments(Self.change) + ["--output", "json"], limit: .seconds(240))
        #expect(child.exitStatus == 0, "\(child.transcript)")
        let events = Self.objects(child.output)
        #expect(!events.isEmpty)
        for event in events {
            if let problem = schema.problem(event) { Issue.record("\(problem)") }
        }
        // Human text went to standard error.
        #expect(child.errors.contains("rollout") || child.errors.isEmpty)

        let rolloutRows = try rig.journal("SELECT id, state FROM flotilla.rollouts WHERE fleet = 'stream'")
        #expect(rolloutRows.count == 1)
        let rolloutID = try #require(rolloutRows.first?.first)
        #expect(rolloutRows.first?.last == "done")

        // Every event names the rollout, the fleet and the change; times are ISO 8601 UTC with milliseconds, in order.
        let parser = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var previous = Date.distantPast
        for event in events {
            #expect(Self.string(event, "rollout") == rolloutID, "\(event)")
            #expect(Self.string(event, "fleet") == "stream")
            #expect(Self.string(event, "change") == Self.change.id)
            let time = try #require(Self.string(event, "time"))
            #expect(time.hasSuffix("Z") && time.count == 24, "\(time)")
            let date = try parser.parse(time)
            #expect(date >= previous)
            previous = date
        }

        let types = events.compactMap { Self.string($0, "type") }
        #expect(types.first == "rollout")
        #expect(Self.string(events[0], "action") == "started")
        #expect(types.last == "done")
        #expect(Self.string(events[events.count - 1], "state") == "done")

        // Phases in order, each with its waves in order.
        let phases = events.filter { Self.string($0, "type") == "phase" && Self.string($0, "action") == "started" }
        #expect(phases.compactMap { Self.string($0, "phase") } == ["expand", "contract"])
        #expect(phases.compactMap { $0["number"] as? Int } == [1, 2])
        for phase in ["expand", "contract"] {
            let waves = events.filter {
                Self.string($0, "type") == "wave" && Self.string($0, "action") == "started"
                    && Self.string($0, "phase") == phase
            }.compactMap { Self.string($0, "wave") }
            #expect(waves.first == "canary")
            #expect(Set(waves) == ["canary", "rest"])
            #expect(waves.lastIndex(of: "canary")! < waves.firstIndex(of: "rest")!)
            let index = types.indices.first { types[$0] == "phase" && Self.string(events[$0], "phase") == phase }!
            let firstWave = types.indices.first { types[$0] == "wave" && Self.string(events[$0], "phase") == phase }!
            #expect(index < firstWave)
        }

        // A step event per tenant and phase, with the ids of the journal's steps rows.
        let stepRows = try rig.journal(
            "SELECT phase, wave, tenant, shard FROM flotilla.steps WHERE rollout_id = '\(rolloutID)' AND state = 'applied' ORDER BY 1, 3"
        )
        #expect(stepRows.count == 12)
        let stepEvents = events.filter { Self.string($0, "type") == "step" && Self.string($0, "action") == "applied" }
            .map { event in ["phase", "wave", "tenant", "shard"].map { Self.string(event, $0) ?? "-" } }
        #expect(stepEvents.count == 12)
        #expect(Set(stepEvents) == Set(stepRows))

        // The check's measurements and verdicts: the canary waves baked under it, and it passed there.
        let measured = try rig.journal(
            "SELECT count(*) FROM flotilla.measurements WHERE rollout_id = '\(rolloutID)'")
        let checkEvents = events.filter { Self.string($0, "type") == "check" }
        #expect(checkEvents.count == Int(measured.first?.first ?? "") ?? -1)
        #expect(checkEvents.count >= 4)
        #expect(checkEvents.allSatisfy { Self.string($0, "check") == "alive" && Self.string($0, "verdict") == "pass" })
        #expect(checkEvents.allSatisfy { Self.string($0, "tenant") != nil && Self.string($0, "shard") != nil })
        let verdictRows = try rig.journal(
            "SELECT phase, wave, check_name, verdict FROM flotilla.check_verdicts WHERE rollout_id = '\(rolloutID)' ORDER BY id"
        )
        let verdictEvents = events.filter { Self.string($0, "type") == "verdict" }
            .map { event in ["phase", "wave", "check", "verdict"].map { Self.string(event, $0) ?? "-" } }
        #expect(verdictEvents == verdictRows)
        #expect(verdictRows.contains(["expand", "canary", "alive", "passed"]))
        // status --watch --output json of the finished rollout: what the journal shows, as the same events.
        let watched = try await rig.children.run(
            "watch", ["status", rolloutID, "--watch", "--output", "json", "--fleet", "stream"])
        #expect(watched.exitStatus == 0, "\(watched.transcript)")
        let replay = Self.objects(watched.output)
        for event in replay {
            if let problem = schema.problem(event) { Issue.record("status: \(problem)") }
        }
        let replayedSteps = replay.filter { Self.string($0, "type") == "step" }
            .map { event in ["phase", "wave", "tenant", "shard"].map { Self.string(event, $0) ?? "-" } }
        #expect(Set(replayedSteps) == Set(stepRows))
        #expect(replay.filter { Self.string($0, "type") == "verdict" }.count == verdictRows.count)
        #expect(Self.string(replay.last ?? [:], "type") == "done")

        // revert --output json: a reverted step per tenant and phase, then done (reverted); nothing else on stdout.
        let revert = try await rig.children.run(
            "revert", ["revert", rolloutID, "--fleet", "stream", "--yes", "--output", "json"], limit: .seconds(240))
        #expect(revert.exitStatus == 0, "\(revert.transcript)")
        let reverted = Self.objects(revert.output)
        for event in reverted {
            if let problem = schema.problem(event) { Issue.record("revert: \(problem)") }
            #expect(Self.string(event, "rollout") == rolloutID)
        }
        let revertedRows = try rig.journal(
            "SELECT phase, wave, tenant, shard FROM flotilla.steps WHERE rollout_id = '\(rolloutID)' AND state = 'reverted'"
        )
        #expect(revertedRows.count == 12)
        let revertedSteps = reverted.filter {
            Self.string($0, "type") == "step" && Self.string($0, "action") == "reverted"
        }
        .map { event in ["phase", "wave", "tenant", "shard"].map { Self.string(event, $0) ?? "-" } }
        #expect(Set(revertedSteps) == Set(revertedRows))
        #expect(Self.string(reverted.last ?? [:], "state") == "reverted")

        // A bake is announced before its measurements end.
        #expect(
            events.contains {
                Self.string($0, "type") == "wave" && Self.string($0, "action") == "baking"
                    && ($0["bake_ms"] as? Int) == 1000
            })
    }

    @Test func aHaltIsAnEventAndTheStreamEndsHalted() async throws {
        let workspace = try Fixtures.Workspace(prefix: "flotilla-halted")
        defer { workspace.remove() }
        let slow = Fixtures.ChangeFile(
            id: "0001_slow", phases: [.init(name: "slow", sleep: 0.4, marker: "slow_marker")])
        let fleet = try await Fixtures.Fleet.prepare(
            name: "halted", shards: 2, tenants: 8, idPrefix: "h", change: slow, in: workspace, canary: 2, parallel: 1,
            perShard: 1)
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }
        let rollout = try children.start("rollout", fleet.rolloutArguments(slow) + ["--output", "json"])
        #expect(try await eventually { Fixtures.appliedSteps(fleet.control, fleet: "halted") >= 1 })
        let halt = try await children.run("halt", ["halt", "--fleet", "halted", "--reason", "stream drill"])
        #expect(halt.exitStatus == 0, "\(halt.transcript)")
        #expect(try await rollout.wait(limit: .seconds(120)) == 3, "\(rollout.transcript)")
        let events = Self.objects(rollout.output)
        let halts = events.filter { Self.string($0, "type") == "halt" }
        #expect(halts.count == 1, "\(rollout.output)")
        #expect(halts.first.map { Self.string($0, "reason") } == "stream drill")
        #expect(halts.first.map { Self.string($0, "scope") } == "fleet")
        #expect(halts.first.map { Self.string($0, "halted_fleet") } == "halted")
        let haltID = try psql(fleet.control, "SELECT max(id) FROM flotilla.halts")
        #expect(halts.first.flatMap { $0["halt"] as? Int }.map(String.init) == haltID)
        #expect(Self.string(events.last ?? [:], "type") == "done")
        #expect(Self.string(events.last ?? [:], "state") == "halted")
        let applied = events.filter { Self.string($0, "type") == "step" && Self.string($0, "action") == "applied" }
        #expect(applied.count == Fixtures.appliedSteps(fleet.control, fleet: "halted"))
        #expect(applied.count < 8)
    }

    @Test func eventsCarryTheirIdsAndStayOneLine() throws {
        var context = EventStream.Context(
            fleet: "acme", change: "0001_add", kind: "rollout", shards: ["t1": "s1", "t2": "s2"],
            waves: ["t1": "canary", "t2": "rest"])
        let at = Date(timeIntervalSince1970: 1_800_000_000.5)
        #expect(
            EventStream.lines(for: .started(rollout: "r1", resumed: false), context: &context, at: at) == [
                #"{"type":"rollout","time":"2027-01-15T08:00:00.500Z","rollout":"r1","fleet":"acme","change":"0001_add","action":"started","kind":"rollout"}"#
            ])
        let failed = EventStream.lines(
            for: .stepFailed(
                error: StepError(
                    tenant: "t1", shard: "s1", phase: "expand", sqlState: "55P03", message: "lock\n\u{1B}[2J")),
            context: &context, at: at)
        #expect(failed.count == 1)
        #expect(failed[0].contains(#""phase":"expand","wave":"canary","tenant":"t1","shard":"s1","action":"failed""#))
        #expect(failed[0].contains(#""error":"lock\n\u001b[2J""#))
        #expect(!failed[0].contains("\n") && !failed[0].contains("\u{1B}"))
        let quarantined = EventStream.objects(
            for: .quarantined(phase: "expand", tenants: ["t1", "t2"]), context: &context, at: at)
        #expect(quarantined.count == 2)
        #expect(
            quarantined.last?.compact.contains(#""wave":"rest","tenant":"t2","shard":"s2","action":"quarantined""#)
                == true)
        // Every field an event can have is in the schema of its type.
        for type in EventType.allCases {
            let names = EventStream.allFields(of: type).map(\.name)
            #expect(Set(names).count == names.count, "\(type): a field twice")
        }
    }

    /// Runs `flotilla ARGUMENTS` under `script` (util-linux), whose pseudo-terminal is its standard output.
    static func runOnTerminal(_ rig: Rig, _ arguments: [String], noColor: Bool) async throws -> (Int32, String) {
        let binary = try Fixtures.flotillaBinary()
        let command = ([binary.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let transcript = rig.workspace.folder.appendingPathComponent("tty-\(noColor).out")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qefc", command, "/dev/null"]
        process.currentDirectoryURL = rig.workspace.folder
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("PG") && $0.key != "FLOTILLA_CONTROL_URL" && $0.key != "NO_COLOR"
        }
        environment["FLOTILLA_HOME"] = rig.workspace.folder.appendingPathComponent(".flotilla").path
        environment["FLOTILLA_LOG_LEVEL"] = "error"
        environment["TERM"] = "xterm"
        environment["USER"] = "flotilla-tests"
        if noColor { environment["NO_COLOR"] = "1" }
        process.environment = environment
        _ = FileManager.default.createFile(atPath: transcript.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: transcript)
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(240)
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: transcript, encoding: .utf8)) ?? "")
    }

    @Test func onATerminalTheViewRedrawsInPlaceAndNotWhenPiped() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            Issue.record("util-linux script is needed for the terminal test")
            return
        }
        let rig = try await Rig.make("tty")
        defer { rig.remove() }
        let (status, output) = try await Self.runOnTerminal(
            rig, rig.fleet.rolloutArguments(Self.change), noColor: false)
        #expect(status == 0, "\(output)")
        // Cursor up and clear to the end of the screen: redrawn in place; the bars and the rollout's end are there.
        #expect(output.range(of: "\u{1B}\\[[0-9]+A\r\u{1B}\\[J", options: .regularExpression) != nil, "\(output)")
        #expect(output.contains("\u{1B}[32m"))
        #expect(output.contains("canary") && output.contains("2/2") && output.contains("4/4"))
        #expect(output.contains(": done"))
        let rows = try rig.journal("SELECT state FROM flotilla.rollouts WHERE fleet = 'tty'")
        #expect(rows == [["done"]])

        // status --watch of it on a terminal: the same view, drawn until the rollout has ended (here at once).
        let id = try #require(
            try rig.journal("SELECT id FROM flotilla.rollouts WHERE fleet = 'tty' AND change = '\(Self.change.id)'")
                .first?.first)
        let (watched, view) = try await Self.runOnTerminal(
            rig, ["status", id, "--watch", "--fleet", "tty"], noColor: false)
        #expect(watched == 0, "\(view)")
        #expect(view.contains("rollout \(id) · \(Self.change.id) on tty: "), "\(view)")
        #expect(view.contains("phase 2/2 contract"))
        #expect(view.contains("\u{1B}[32m####################\u{1B}[0m] 4/4"), "\(view)")

        // NO_COLOR: still redrawn, no colour. (A rerun of a done rollout: create a second change.)
        var second = Self.change
        second.id = "0002_stream"
        second.phases = [.init(name: "again", sleep: 0.05, marker: "stream_again")]
        try rig.workspace.write("fleets/tty/changes/\(second.id).yaml", second.yaml)
        let (again, plain) = try await Self.runOnTerminal(rig, rig.fleet.rolloutArguments(second), noColor: true)
        #expect(again == 0, "\(plain)")
        #expect(plain.range(of: "\u{1B}\\[[0-9]+A", options: .regularExpression) != nil)
        #expect(plain.range(of: "\u{1B}\\[[0-9;]*m", options: .regularExpression) == nil, "\(plain)")

        // Not a terminal: today's plain lines, no escape sequence at all.
        var third = Self.change
        third.id = "0003_stream"
        third.phases = [.init(name: "third", sleep: 0.05, marker: "stream_third")]
        try rig.workspace.write("fleets/tty/changes/\(third.id).yaml", third.yaml)
        let piped = try await rig.children.run("piped", rig.fleet.rolloutArguments(third), limit: .seconds(240))
        #expect(piped.exitStatus == 0, "\(piped.transcript)")
        #expect(!piped.output.contains("\u{1B}"))
        #expect(piped.output.contains("phase 1/1 third"))
        #expect(piped.output.contains(": done"))
    }
}
