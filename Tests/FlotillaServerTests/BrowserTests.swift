import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// The dashboard in a real browser: `flotilla serve` (the built binary) over a control store, headless Chromium driven
/// by `Browser/dashboard.py` (Selenium). Chromium, chromedriver and Selenium must be installed — `.ci/run` installs
/// them — and a missing one fails the test rather than skipping it.
@Suite(.serialized, .heavy)
struct BrowserTests {
    typealias Harness = DashboardHarness

    /// `python3` as found on PATH (where `pip install selenium` put Selenium), through env.
    static let env = URL(fileURLWithPath: "/usr/bin/env")
    static let token = "browser-test-token"

    /// Fails, saying what to install, unless Chromium, its driver and Selenium are there.
    func requireBrowser() throws {
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw Harness.Failure(
                    "\(path) is missing: `apt-get install -y chromium chromium-driver` and `pip install selenium` (.ci/run does)"
                )
            }
        }
        let check = Process()
        check.executableURL = Self.env
        check.arguments = ["python3", "-c", "import selenium"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            throw Harness.Failure("Python's selenium is missing: `pip install selenium` (.ci/run does)")
        }
    }

    /// Runs the browser script to its end (killed after `limit`).
    func browse(_ children: Harness.Children, _ arguments: [String], limit: Duration = .seconds(240)) async throws
        -> Harness.Child
    {
        var environment: [String: String] = [:]
        if let folder = ProcessInfo.processInfo.environment["FLOTILLA_SCREENSHOTS"] {
            environment["FLOTILLA_SCREENSHOTS"] = folder
        }
        let browser = try children.start(
            "browser", Self.env, ["python3", Harness.browserScript.path] + arguments, environment: environment)
        try await browser.wait(limit: limit)
        return browser
    }

    @Test(.timeLimit(.minutes(10))) func haltFromTheBrowserStopsTheRollout() async throws {
        try requireBrowser()
        let children = try Harness.Children(prefix: "browser")
        defer {
            children.stopAll()
            children.remove()
        }
        let control = try await TestCluster.shared.freshDatabase(prefix: "br_ctl")
        let shard = try await TestCluster.shared.freshDatabase(prefix: "br_s1")
        let tenants = 60
        _ = try psql(
            shard, (1...tenants).map { String(format: "CREATE SCHEMA tenant_w%03d;", $0) }.joined(separator: "\n"))
        try children.write(
            "fleets/web/fleet.yaml",
            """
            fleet: web
            control: "\(postgresURL(control))"
            shards:
              - name: s1
                url: "\(postgresURL(shard))"
            tenants:
              - generate: {count: \(tenants), id: "w{n:03}", shard: [s1], schema: "tenant_{id}"}

            """)
        // Each step sleeps 1 s and two run at once: 30 s or more, so the halt lands mid-rollout even when starting
        // Chromium on a busy machine takes many seconds.
        try children.write(
            "fleets/web/changes/0001_slow.yaml",
            """
            change: 0001_slow
            phases:
              - name: expand
                up: |
                  SELECT pg_sleep(1);
                  CREATE TABLE IF NOT EXISTS marker (id int);
                down: DROP TABLE IF EXISTS marker;

            """)
        try children.write(
            "policies/p.yaml",
            """
            policy: p
            waves:
              - {name: canary, select: {tenants: [w001, w002]}}
              - {name: rest, select: {remaining: true}}
            parallel: 2
            per_shard_parallel: 2
            lock_timeout: 5s
            statement_timeout: 1m
            retries: {attempts: 3, backoff: 100ms}

            """)
        let rollout = try children.flotilla(
            "rollout", ["rollout", "--fleet", "web", "--change", "0001_slow", "--policy", "p", "--yes"])
        let (server, port) = try await children.serve(control: control, token: Self.token)
        let busy = try await eventually(within: .seconds(180)) {
            !rollout.isRunning || Self.applied(control) >= 3
        }
        try #require(
            busy && rollout.isRunning, "the rollout was not running when it should be halted: \(rollout.transcript)")
        let id = try psql(control, "SELECT id FROM flotilla.rollouts")

        let reason = "pager: checkout errors <from the browser>"
        let browser = try await browse(
            children,
            [
                "--url", "http://127.0.0.1:\(port)/rollouts/\(id)", "--token", Self.token, "--reason", reason, "--by",
                "browser-test", "--expect", "halted (fleet web) by browser-test", "--wait-banner",
            ])
        #expect(browser.exitStatus == 0, "\(browser.transcript)\n\(server.transcript)")
        #expect(browser.output.contains("halted (fleet web) by browser-test"), "\(browser.transcript)")
        // The answer says what the halt did to the running coordinator: stopped (within the answer's 5 s), or
        // still stopping on a machine too busy for that.
        #expect(
            browser.output.contains("— 1 coordinator stopped (rollout \(id))")
                || browser.output.contains("still stopping: \(id)"), "\(browser.transcript)")
        #expect(browser.output.contains("banner: HALT"), "\(browser.transcript)")

        // The halt is recorded as the page sent it.
        #expect(
            try psql(control, "SELECT fleet || '|' || reason || '|' || halted_by || '|' || revert FROM flotilla.halts")
                == "web|\(reason)|browser-test|false")
        // The coordinator stopped: exit 3, the rollout halted, no step started later than a second after the halt,
        // none left running, and not every tenant done.
        let status = try await rollout.wait(limit: .seconds(120))
        #expect(status == 3, "\(rollout.transcript)")
        #expect(try psql(control, "SELECT state FROM flotilla.rollouts") == "halted")
        #expect(
            try psql(
                control,
                """
                SELECT count(*) FROM flotilla.steps
                WHERE started_at > (SELECT halted_at FROM flotilla.halts) + interval '1 second'
                """) == "0")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.steps WHERE state = 'running'") == "0")
        #expect(Self.applied(control) < tenants)
    }

    @Test(.timeLimit(.minutes(10))) func aWrongTokenChangesNothingAndSaysSo() async throws {
        try requireBrowser()
        let children = try Harness.Children(prefix: "browser")
        defer {
            children.stopAll()
            children.remove()
        }
        let control = try await TestCluster.shared.freshDatabase(prefix: "br_tok")
        let (server, port) = try await children.serve(control: control, token: Self.token)
        try insertRollout(control, id: "r-web")
        let browser = try await browse(
            children,
            [
                "--url", "http://127.0.0.1:\(port)/rollouts/r-web", "--token", "not-the-token", "--reason",
                "should not happen", "--expect", "rejected: wrong token",
            ])
        #expect(browser.exitStatus == 0, "\(browser.transcript)\n\(server.transcript)")
        #expect(browser.output.contains("rejected: wrong token"), "\(browser.transcript)")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.halts") == "0")
        #expect(try psql(control, "SELECT state FROM flotilla.rollouts WHERE id = 'r-web'") == "running")
    }

    /// Applied steps in the control store (0 before its schema exists).
    static func applied(_ control: ConnectionURL) -> Int {
        (try? psql(control, "SELECT count(*) FROM flotilla.steps WHERE state = 'applied'")).flatMap { Int($0) } ?? 0
    }
}
