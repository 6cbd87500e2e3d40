import FlotillaEngine
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import FlotillaServer

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The dashboard's pages and its event stream against a real control store, without a browser.
@Suite(.heavy)
struct DashboardTests {
    static let policy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"

    /// A rollout whose tenant id, error, event message and check detail are hostile HTML.
    static func insertHostileRollout(_ url: ConnectionURL, store: ControlStore) async throws {
        try await store.ensureCheckTables()
        _ = try psql(
            url,
            """
            INSERT INTO flotilla.rollouts (id, fleet, change, policy, state, current_phase, current_wave)
            VALUES ('r-x', 'demo', '0001_<i>c</i>', 'canary', 'running', 'expand', 'canary');
            INSERT INTO flotilla.steps (rollout_id, phase, phase_index, wave, wave_index, tenant, shard, state, attempts,
                sqlstate, error, duration_ms)
            VALUES ('r-x', 'expand', 0, 'canary', 0, '<script>alert(1)</script>', 'pg-a', 'failed', 2, '23505',
                    'duplicate key "<img src=x onerror=alert(2)>"', 41),
                   ('r-x', 'expand', 0, 'canary', 0, 't2', 'pg-a', 'applied', 1, NULL, NULL, 12),
                   ('r-x', 'expand', 0, 'rest', 1, 't3', 'pg-b', 'pending', 0, NULL, NULL, NULL),
                   ('r-x', 'contract', 1, 'canary', 0, 't2', 'pg-a', 'pending', 0, NULL, NULL, NULL);
            INSERT INTO flotilla.events (rollout_id, kind, phase, tenant, message)
            VALUES ('r-x', 'step-failed', 'expand', '<script>alert(1)</script>', 'failed: <script>alert(3)</script>');
            INSERT INTO flotilla.measurements (rollout_id, phase, wave, check_name, kind, scope, target, verdict, value,
                detail, at)
            VALUES ('r-x', 'expand', 'canary', 'lag<svg onload=alert(4)>', 'sql', 'wave', 'pg-a', 'pass', '2',
                    'returned 2, within 1…5', now() - interval '20 seconds'),
                   ('r-x', 'expand', 'canary', 'lag<svg onload=alert(4)>', 'sql', 'wave', 'pg-a', 'fail', '7',
                    'returned 7, above max 5', now() - interval '10 seconds');
            """)
    }

    @Test(.timeLimit(.minutes(3))) func pagesEscapeHostileTextAndCarryTheCSP() async throws {
        try await withDashboardServer { client, url, store in
            try await Self.insertHostileRollout(url, store: store)
            for path in ["/", "/rollouts/r-x", "/rollouts/r-x?fragment=live", "/?fragment=live"] {
                let page = try await client.get(path)
                #expect(page.status == .ok, "\(path): \(page.text)")
                #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(page.headers[.contentSecurityPolicy] == Self.policy, "\(path)")
                // The only script is the server's own file; no inline script, style or handler.
                #expect(!page.text.contains("<script>"), "\(path)")
                #expect(!page.text.contains("<img"), "\(path)")
                #expect(!page.text.contains("<svg onload"), "\(path)")
                #expect(!page.text.contains("<i>c"), "\(path)")
                #expect(!page.text.contains("style="), "\(path)")
                #expect(!page.text.contains("<style"), "\(path)")
                // No event-handler attribute: hostile text shows as text (`onerror=` escaped inside a value, never `on…="`).
                #expect(!page.text.contains(/\son[a-z]+\s*=\s*"/), "\(path)")
                #expect(
                    page.text.components(separatedBy: "<script").count - 1
                        == (path.contains("fragment") ? 0 : 1), "\(path)")
            }
            let page = try await client.get("/rollouts/r-x").text
            #expect(page.contains("<script src=\"/assets/dashboard.js\" defer></script>"))
            // The hostile tenant's cell: escaped in its title and in its data attributes.
            #expect(page.contains("data-tenant=\"&lt;script&gt;alert(1)&lt;/script&gt;\""), "\(page)")
            #expect(page.contains("data-sqlstate=\"23505\""))
            #expect(page.contains("data-error=\"duplicate key &quot;&lt;img src=x onerror=alert(2)&gt;&quot;\""))
            #expect(page.contains("title=\"tenant: &lt;script&gt;alert(1)&lt;/script&gt;&#10;shard: pg-a"))
            #expect(page.contains("class=\"t s-failed\""))
            #expect(page.contains("data-attempts=\"2\"") && page.contains("data-duration=\"41 ms\""))
            // The event log and the check, escaped.
            #expect(page.contains("failed: &lt;script&gt;alert(3)&lt;/script&gt;"))
            #expect(page.contains("<h3>lag&lt;svg onload=alert(4)&gt;</h3>"))
            // Phases × waves: two phases, two waves, 1 of 2 applied in expand/canary.
            #expect(page.contains("<th>canary</th><th>rest</th>"))
            #expect(page.contains("<div class=\"cellhead\">1/2</div>"))
            // The chart: two readings and the thresholds the details name.
            #expect(page.components(separatedBy: "<circle").count - 1 == 2)
            #expect(page.contains(">max 5</text>") && page.contains(">min 1</text>"))
            #expect(page.contains("class=\"threshold\""))

            let list = try await client.get("/").text
            #expect(list.contains("<a href=\"/rollouts/r-x\">r-x</a>"))
            #expect(list.contains("<progress value=\"1\" max=\"4\"></progress> <span class=\"count\">1/4</span>"))
            #expect(list.contains("0001_&lt;i&gt;c&lt;/i&gt;"))

            for (path, type) in [
                ("/assets/dashboard.js", "text/javascript"), ("/assets/dashboard.css", "text/css"),
                ("/api/rollouts", "application/json"), ("/healthz", "text/plain"),
            ] {
                let response = try await client.get(path)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix(type) == true, "\(path)")
                #expect(response.headers[.contentSecurityPolicy] == Self.policy, "\(path)")
            }
            let missing = try await client.get("/rollouts/nope")
            #expect(missing.status == .notFound)
            #expect(missing.headers[.contentSecurityPolicy] == Self.policy)
            let unknownRoute = try await client.get("/nowhere")
            #expect(unknownRoute.headers[.contentSecurityPolicy] == Self.policy)
        }
    }

    @Test(.timeLimit(.minutes(3))) func haltAnswerSaysWhichCoordinatorsStopped() async throws {
        try await withDashboardServer { client, url, _ in
            try insertRollout(url, id: "r-idle")
            let idle = try await client.post(
                "/api/halt", #"{"fleet": "demo", "reason": "first", "by": "ops"}"#, token: testToken)
            #expect(idle.status == .ok, "\(idle.text)")
            // A running rollout without a live coordinator (no lease) is not waited for.
            let idleMessage = try #require(try idle.object()["message"] as? String)
            #expect(idleMessage.hasSuffix(": first — no rollout was running"), "\(idleMessage)")
            #expect(try idle.object()["running"] as? [String] == [], "\(idle.text)")
            _ = try psql(
                url,
                """
                UPDATE flotilla.halts SET lifted_at = now(), lifted_by = 'ops';
                INSERT INTO flotilla.rollouts (id, fleet, change, policy, state, lease_owner, lease_expires_at)
                VALUES ('r-held', 'demo', '0002', 'p', 'running', 'host:1', now() + interval '5 minutes');
                """)
            // The coordinator: stops once it sees the halt, as the engine does.
            let coordinator = Task {
                _ = try await eventually(within: .seconds(60), every: .milliseconds(20)) {
                    try psql(url, "SELECT count(*) FROM flotilla.halts WHERE lifted_at IS NULL") == "1"
                }
                _ = try psql(url, "UPDATE flotilla.rollouts SET state = 'halted' WHERE id = 'r-held'")
            }
            let halted = try await client.post(
                "/api/halt", #"{"fleet": "demo", "reason": "second", "by": "ops"}"#, token: testToken)
            try await coordinator.value
            let object = try halted.object()
            #expect(object["running"] as? [String] == ["r-held"], "\(halted.text)")
            #expect(object["stopped"] as? [String] == ["r-held"], "\(halted.text)")
            #expect(object["coordinators_stopped"] as? Int == 1, "\(halted.text)")
            let message = try #require(object["message"] as? String)
            #expect(message.hasPrefix("halted (fleet demo) by ops at "), "\(message)")
            #expect(message.hasSuffix(": second — 1 coordinator stopped (rollout r-held)"), "\(message)")
            // The rollout's page shows the audit trail: the halts of its fleet since it started, from the API.
            let page = try await client.get("/rollouts/r-held").text
            let audited = try psql(
                url, "SELECT count(*) FROM flotilla.audit WHERE action = 'halt' AND actor = 'ops' AND via = 'api'")
            #expect(audited == "2", "both halts are in the audit table")
            #expect(page.contains("<h2>Audit</h2>"), "\(page)")
            #expect(
                page.contains("<td>halt</td><td>ops</td><td>api</td>") && page.contains(">second</td>"), "\(page)")
        }
    }

    @Test func thresholdsAreReadFromTheDetails() {
        let both = DashboardChart.thresholds(["returned 3, within 0…5"])
        #expect(both.min == 0 && both.max == 5)
        let floor = DashboardChart.thresholds(["returned 0.2, below min 0.5"])
        #expect(floor.min == 0.5 && floor.max == nil)
        let ceiling = DashboardChart.thresholds(["returned 9, above max 7.5", "returned 1, at most 7.5"])
        #expect(ceiling.min == nil && ceiling.max == 7.5)
        let none = DashboardChart.thresholds(["returned true"])
        #expect(none.min == nil && none.max == nil)
    }

    @Test(.timeLimit(.minutes(5))) func eventStreamDeliversTheJournalAndResumes() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "sse")
        let scratch = try DashboardHarness.Children(prefix: "sse")
        defer {
            scratch.stopAll()
            scratch.remove()
        }
        try await withPostgresClient(url, logger: serverTestLogger) { client in
            let store = ControlStore(client: client, logger: serverTestLogger)
            try await store.migrate()
            try insertRollout(url, id: "r-live")
            _ = try psql(
                url,
                "INSERT INTO flotilla.rollouts (id, fleet, change, policy, state) VALUES ('r-other', 'demo', '0002', 'p', 'running')"
            )
            let server = APIServer(
                store: store, token: APIToken(testToken), logger: serverTestLogger, pollInterval: .milliseconds(100))
            let (ports, portsContinuation) = AsyncStream<Int?>.makeStream()
            let (stops, stopContinuation) = AsyncStream<Void>.makeStream()
            let running = Task {
                try await server.run(host: "127.0.0.1", port: 0) { port in
                    portsContinuation.yield(port)
                } stop: {
                    for await _ in stops { return }
                }
            }
            defer { stopContinuation.yield() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next() ?? nil)
            let curl = URL(fileURLWithPath: "/usr/bin/curl")

            // From the start of the journal: both events that were there, then those of a rollout as it runs.
            let first = try scratch.start(
                "first", curl, ["-sS", "-N", "http://127.0.0.1:\(port)/api/events?rollout=r-live&after=0"])
            let before = try journal(url, rollout: "r-live")
            #expect(before.count == 1)
            #expect(
                try await eventually(within: .seconds(60)) { ids(first.output) == before.map(\.id) }, "\(first.output)")

            _ = try psql(
                url,
                """
                INSERT INTO flotilla.events (rollout_id, kind, phase, message) VALUES ('r-other', 'started', 'expand', 'not mine');
                INSERT INTO flotilla.events (rollout_id, kind, phase, wave, message)
                VALUES ('r-live', 'wave-started', 'expand', 'rest', 'wave rest: 1 tenant');
                UPDATE flotilla.steps SET state = 'running' WHERE rollout_id = 'r-live' AND tenant = 't3';
                INSERT INTO flotilla.events (rollout_id, kind, phase, tenant, message)
                VALUES ('r-live', 'step-applied', 'expand', 't3', 'applied <in 5 ms>');
                """)
            let after = try journal(url, rollout: "r-live")
            #expect(after.count == 3)
            #expect(
                try await eventually(within: .seconds(60)) { ids(first.output) == after.map(\.id) }, "\(first.output)")
            // Each frame is the journal's row: id, kind and message, as JSON on one data line.
            let frames = parse(first.output)
            for (frame, row) in zip(frames.filter { $0.event == "journal" }, after) {
                #expect(frame.id == row.id)
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(frame.data.utf8)) as? [String: Any], "\(frame.data)")
                #expect((object["id"] as? NSNumber)?.int64Value == row.id)
                #expect(object["rollout"] as? String == "r-live")
                #expect(object["kind"] as? String == row.kind)
                #expect(object["message"] as? String == row.message)
            }
            #expect(!first.output.contains("not mine"))
            // The steps moved: a progress message for this rollout (no id: it is not in the journal).
            #expect(
                try await eventually(within: .seconds(30)) {
                    parse(first.output).contains { $0.event == "progress" && $0.data.contains("running 1") }
                }, "\(first.output)")
            #expect(first.output.hasPrefix("retry: 2000\n"))

            // Resumed with Last-Event-ID: only what came after that event, old or new.
            let resumeAfter = after[0].id
            let resumed = try scratch.start(
                "resumed", curl,
                [
                    "-sS", "-N", "-H", "Last-Event-ID: \(resumeAfter)",
                    "http://127.0.0.1:\(port)/api/events?rollout=r-live",
                ])
            #expect(
                try await eventually(within: .seconds(60)) { ids(resumed.output) == after.dropFirst().map(\.id) },
                "\(resumed.output)")
            _ = try psql(
                url, "INSERT INTO flotilla.events (rollout_id, kind, message) VALUES ('r-live', 'done', 'rollout done')"
            )
            let final = try journal(url, rollout: "r-live")
            #expect(
                try await eventually(within: .seconds(60)) {
                    ids(resumed.output) == final.dropFirst().map(\.id) && ids(first.output) == final.map(\.id)
                }, "\(resumed.output)\n\(first.output)")

            // Without a filter, a halt is announced to every stream.
            let everything = try scratch.start("all", curl, ["-sS", "-N", "http://127.0.0.1:\(port)/api/events"])
            #expect(try await eventually(within: .seconds(60)) { everything.output.contains("retry: 2000") })
            try await Task.sleep(for: .milliseconds(300))
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/halt")!)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.setValue("Bearer \(testToken)", forHTTPHeaderField: "Authorization")
            request.httpBody = Data(#"{"fleet": "demo", "reason": "stop", "by": "sse-test"}"#.utf8)
            let (answer, _) = try await URLSession.shared.data(for: request)
            let halted = String(decoding: answer, as: UTF8.self)
            #expect(halted.contains("halted (fleet demo) by sse-test"), "\(halted)")
            let haltID = try psql(url, "SELECT id FROM flotilla.halts")
            #expect(
                try await eventually(within: .seconds(60)) {
                    parse(everything.output).contains { $0.event == "halts" && $0.data.contains("\"\(haltID)\"") }
                }, "\(everything.output)")
            // One poller for all three streams.
            #expect(await server.hub.listeners == 3)
            scratch.stopAll()
            stopContinuation.yield()
            try await running.value
        }
    }

    /// The events of a rollout in the control store: id, kind, message.
    func journal(_ url: ConnectionURL, rollout: String) throws -> [(id: Int64, kind: String, message: String)] {
        let text = try psql(
            url,
            "SELECT id || '|' || kind || '|' || message FROM flotilla.events WHERE rollout_id = '\(rollout)' ORDER BY id"
        )
        return text.split(separator: "\n").map { line in
            let parts = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            return (Int64(parts[0]) ?? -1, parts[1], parts[2])
        }
    }

    struct Frame {
        var id: Int64?
        var event: String?
        var data: String
    }

    /// The frames of a text/event-stream (comments skipped).
    func parse(_ stream: String) -> [Frame] {
        stream.components(separatedBy: "\n\n").compactMap { block in
            var frame = Frame(data: "")
            var any = false
            for line in block.split(separator: "\n") where !line.hasPrefix(":") {
                if line.hasPrefix("id: ") { frame.id = Int64(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { frame.event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") {
                    frame.data = String(line.dropFirst(6))
                    any = true
                }
            }
            return any ? frame : nil
        }
    }

    func ids(_ stream: String) -> [Int64] { parse(stream).compactMap(\.id) }
}

/// A migrated control store on a fresh database, the API over it and a test client of that API (no port).
func withDashboardServer(
    _ body: @escaping @Sendable (any TestClientProtocol, ConnectionURL, ControlStore) async throws -> Void
) async throws {
    let url = try await TestCluster.shared.freshDatabase(prefix: "dash")
    try await withPostgresClient(url, logger: serverTestLogger) { client in
        let store = ControlStore(client: client, logger: serverTestLogger)
        try await store.migrate()
        let server = APIServer(store: store, token: APIToken(testToken), logger: serverTestLogger)
        let app = server.application(host: "127.0.0.1", port: 0)
        try await app.test(.router) { client in try await body(client, url, store) }
    }
}
