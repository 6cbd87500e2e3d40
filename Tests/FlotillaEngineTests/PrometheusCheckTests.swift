import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

@testable import FlotillaEngine

#if canImport(Glibc)
    import Glibc
#endif
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `prometheus` checks against a real Prometheus server (Debian's `prometheus`), started on a free port with a
/// 1 s scrape of a small exporter the test serves: per-tenant gauges `app_errors{tenant="…"}` it controls.
@Suite(.heavy)
struct PrometheusCheckTests {
    static let change = """
        change: 0001_nickname
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN nickname text;
            down: ALTER TABLE users DROP COLUMN nickname;
        """

    static func policy(_ checks: String, onInconclusive: String = "halt") -> String {
        """
        policy: prom
        waves:
          - {name: first, select: {labels: {wave: first}}, bake: 1s}
          - {name: second, select: {labels: {wave: second}}, bake: 1s}
          - {name: third, select: {labels: {wave: third}}, bake: 0s}
        parallel: 4
        per_shard_parallel: 2
        retries: {attempts: 1, backoff: 10ms}
        checks:
        \(checks)
        on_failure: revert
        on_inconclusive: \(onInconclusive)
        """
    }

    @Test(.timeLimit(.minutes(10)))
    func checkPassesWhileHealthyAndRevertsWhenATenantOfTheWaveGoesBad() async throws {
        let exporter = try MetricsExporter()
        defer { exporter.stop() }
        for (id, _, _) in CanaryRevertTests.tenants { exporter.set(id, 0) }
        exporter.set("p2", 50)  // a tenant of the second wave reports errors
        let prometheus = try await PrometheusServer.start(scraping: exporter.port)
        defer { prometheus.stop() }
        try await prometheus.waitForData("app_errors{tenant=\"p2\"} == 50")

        let rig = try await CanaryRig.make("cy-prom", tenants: CanaryRevertTests.tenants)
        let policy = try canaryPolicy(
            Self.policy(
                """
                  - name: errors
                    prometheus:
                      url: \(prometheus.base)
                      query: 'app_errors{tenant="{tenant}", job="app"}'
                      max: 5
                    scope: tenant
                    interval: 200ms
                    timeout: 5s
                """))
        let outcome = try await rig.rollout(try canaryChange(Self.change), policy)
        guard case .reverted(let id, let reason) = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        #expect(reason.contains("check errors (prometheus, scope tenant) failed in wave second"), "\(reason)")
        // The failing element, named with its labels.
        #expect(
            reason.contains(
                "app_errors{instance=\"127.0.0.1:\(exporter.port)\",job=\"app\",tenant=\"p2\"} = 50, above max 5"),
            "\(reason)")
        #expect(
            try rig.journal("SELECT string_agg(wave || ':' || verdict, ',' ORDER BY id) FROM flotilla.check_verdicts")
                == "first:passed,second:failed")
        // The first wave's tenants measured healthy (0), p2 measured 50 and failed.
        #expect(
            try rig.journal(
                "SELECT string_agg(DISTINCT tenant || ':' || verdict || ':' || value, ',') FROM flotilla.measurements WHERE wave = 'first'"
            ) == "c1:pass:0,c2:pass:0")
        #expect(
            try rig.journal(
                "SELECT count(*) > 0 FROM flotilla.measurements WHERE tenant = 'p2' AND verdict = 'fail' AND value = '50' AND kind = 'prometheus'"
            ) == "t")
        let states = try rig.stepStates("expand")
        for tenant in rig.fleet.tenants {
            #expect(states[tenant.id] == (tenant.labels["wave"] == "third" ? "pending" : "reverted"), "\(tenant.id)")
            #expect(try rig.column(tenant, "nickname") == nil, "\(tenant.id)")
        }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts WHERE id = '\(id)'") == "reverted")
    }

    @Test(.timeLimit(.minutes(10)))
    func waveCheckJudgesEveryElementOfAVector() async throws {
        let exporter = try MetricsExporter()
        defer { exporter.stop() }
        for (id, _, _) in CanaryRevertTests.tenants { exporter.set(id, 1) }
        exporter.set("r3", 9)
        exporter.set("r4", 12)
        let prometheus = try await PrometheusServer.start(scraping: exporter.port)
        defer { prometheus.stop() }
        try await prometheus.waitForData("app_errors{tenant=\"r4\"} == 12")

        let rig = try await CanaryRig.make("cy-prom-vec", tenants: CanaryRevertTests.tenants)
        // Once per wave, the whole fleet's gauges: two elements above max, both named.
        let policy = try canaryPolicy(
            Self.policy(
                """
                  - name: fleet
                    prometheus:
                      url: \(prometheus.base)/
                      query: sum by (tenant) (app_errors{job="app"})
                      max: 5
                    scope: wave
                    interval: 200ms
                    timeout: 5s
                """))
        let outcome = try await rig.rollout(try canaryChange(Self.change), policy)
        guard case .reverted(_, let reason) = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        #expect(
            reason.contains("2 of 9 failing: {tenant=\"r3\"} = 9, above max 5; {tenant=\"r4\"} = 12, above max 5"),
            "\(reason)")
        #expect(
            try rig.journal("SELECT string_agg(wave || ':' || verdict, ',' ORDER BY id) FROM flotilla.check_verdicts")
                == "first:failed")
        #expect(
            try rig.journal("SELECT target || ':' || value FROM flotilla.measurements WHERE verdict = 'fail' LIMIT 1")
                == "wave:12")

        // The same server, asked directly. A value that tries to end the string literal and add to the query stays
        // inside it: no such tenant, no data (unescaped, `or vector(99)` would answer 99 and fail).
        let hostile = CheckTemplate(
            tenant: "x\"} or vector(99) or app_errors{tenant=\"", shard: "a", wave: "w", phase: "p", rollout: "r")
        let query = PrometheusQuery(url: prometheus.base, query: "app_errors{tenant=\"{tenant}\"}", max: 5)
        let injected = await PrometheusCheck.measure(query, template: hostile, timeout: .seconds(10))
        #expect(injected.verdict == .inconclusive, "\(injected)")
        #expect(injected.detail == "the query returned no data")
        // A scalar is judged as one value.
        let scalar = await PrometheusCheck.measure(
            PrometheusQuery(url: prometheus.base, query: "scalar(sum(app_errors{job=\"app\"}))", max: 100),
            template: hostile, timeout: .seconds(10))
        #expect(scalar.verdict == .pass && scalar.value == "28", "\(scalar)")
        #expect(scalar.detail == "scalar = 28, at most 100")
        // A floor: below min fails, the lowest element is the worst.
        let floor = await PrometheusCheck.measure(
            PrometheusQuery(url: prometheus.base, query: "app_errors{job=\"app\"}", min: 2), template: hostile,
            timeout: .seconds(10))
        #expect(floor.verdict == .fail && floor.value == "1", "\(floor)")
        #expect(floor.detail.hasPrefix("7 of 9 failing: app_errors{"), "\(floor)")
        // A broken query is the check's error, with Prometheus' reason.
        let broken = await PrometheusCheck.measure(
            PrometheusQuery(url: prometheus.base, query: "app_errors{", max: 1), template: hostile,
            timeout: .seconds(10))
        #expect(broken.verdict == .error && broken.detail.hasPrefix("Prometheus answered bad_data:"), "\(broken)")
    }

    @Test(.timeLimit(.minutes(10)))
    func emptyResultIsInconclusive() async throws {
        let exporter = try MetricsExporter()
        defer { exporter.stop() }
        for (id, _, _) in CanaryRevertTests.tenants { exporter.set(id, 0) }
        let prometheus = try await PrometheusServer.start(scraping: exporter.port)
        defer { prometheus.stop() }
        try await prometheus.waitForData("app_errors{tenant=\"c1\"}")

        let rig = try await CanaryRig.make("cy-prom-empty", tenants: CanaryRevertTests.tenants)
        // A series nobody exports: no data, for each tenant.
        let policy = try canaryPolicy(
            Self.policy(
                """
                  - name: latency
                    prometheus:
                      url: \(prometheus.base)
                      query: 'app_latency_seconds{tenant="{tenant}"}'
                      max: 0.5
                    interval: 200ms
                    timeout: 5s
                """))
        let outcome = try await rig.rollout(try canaryChange(Self.change), policy)
        guard case .halted(let id, let reason) = outcome else {
            Issue.record("expected halted, got \(outcome)")
            return
        }
        #expect(reason.contains("the query returned no data"), "\(reason)")
        #expect(
            try rig.journal(
                "SELECT string_agg(DISTINCT target || ':' || verdict, ',') FROM flotilla.measurements WHERE check_name = 'latency'"
            ) == "c1:inconclusive,c2:inconclusive")
        #expect(
            try rig.journal("SELECT string_agg(wave || ':' || verdict, ',') FROM flotilla.check_verdicts")
                == "first:inconclusive")
        // Halted, not reverted: the first wave keeps the phase, the rest never started.
        let states = try rig.stepStates("expand")
        for tenant in rig.fleet.tenants {
            #expect(states[tenant.id] == (tenant.labels["wave"] == "first" ? "applied" : "pending"), "\(tenant.id)")
        }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts WHERE id = '\(id)'") == "halted")
    }
}

/// How `prometheus:` and `compare: cohort` read from a policy, and what they refuse.
struct PrometheusPolicyTests {
    static func policy(_ check: String) -> String {
        """
        policy: p
        waves:
          - {name: all, select: {remaining: true}}
        checks:
        \(check)
        """
    }

    static func problems(_ check: String) -> String {
        do {
            _ = try Policy.parse(policy(check), file: "policies/p.yaml")
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test
    func readsAPrometheusCheckAndACohortComparison() throws {
        let policy = try Policy.parse(
            Self.policy(
                """
                  - name: errors
                    prometheus: {url: "http://prom:9090", query: 'rate(x{tenant="{tenant}"}[1m])', min: 0.5}
                    compare: cohort
                    max_regression: "25%"
                    min_samples: 3
                  - name: lag
                    sql: SELECT 1
                    compare: cohort
                    max_regression: 40
                """), file: "policies/p.yaml")
        guard case .prometheus(let query) = policy.checks[0].kind else {
            Issue.record("not a prometheus check: \(policy.checks[0].kind)")
            return
        }
        #expect(query == PrometheusQuery(url: "http://prom:9090", query: "rate(x{tenant=\"{tenant}\"}[1m])", min: 0.5))
        #expect(policy.checks[0].compare == CohortComparison(maxRegression: .ratio(0.25), minSamples: 3))
        #expect(policy.checks[0].higherIsWorse == false)  // only min: a floor
        #expect(policy.checks[1].compare == CohortComparison(maxRegression: .absolute(40), minSamples: 1))
        #expect(policy.checks[1].higherIsWorse)
    }

    @Test
    func refusesWhatCannotBeJudged() {
        #expect(
            Self.problems("  - {name: e, prometheus: {url: \"http://p:9090\", query: up}}")
                .contains("a prometheus check needs min or max (or both) to judge the values, or compare: cohort"))
        #expect(
            Self.problems("  - {name: e, prometheus: {url: \"p:9090\", query: up, max: 1}}")
                .contains("expected an http:// or https:// URL"))
        #expect(
            Self.problems("  - {name: h, http: {url: \"http://x\"}, compare: cohort}")
                .contains("compare: cohort applies to sql and prometheus checks only"))
        #expect(
            Self.problems("  - {name: e, prometheus: {url: \"http://p:9090\", query: up}, compare: cohort}")
                .contains("give scope: tenant or name {tenant} in the query"))
        #expect(
            Self.problems("  - {name: s, sql: SELECT 1, compare: cohort, max_regression: lots}")
                .contains("expected a percent like \"20%\" or an amount of at least 0, found lots"))
        #expect(
            Self.problems("  - {name: s, sql: SELECT 1, compare: cohorts}").contains("expected cohort, found cohorts"))
    }

    @Test
    func fillsTheQueryEscapedForTheLiteralEachValueIsIn() {
        let template = CheckTemplate(tenant: "it's", shard: "sh\"a\\", wave: "w1", phase: "p", rollout: "r")
        let filled = PrometheusCheck.query(
            PrometheusQuery(url: "", query: "x{a='{tenant}', b=\"{shard}\"} * on() group_left y{w=`{wave}`} > {wave}"),
            template: template)
        #expect(filled == .success("x{a='it\\'s', b=\"sh\\\"a\\\\\"} * on() group_left y{w=`w1`} > w1"))
        // An escaped quote does not end the literal: the placeholder after it is still inside.
        #expect(
            PrometheusCheck.query(PrometheusQuery(url: "", query: "x{a=\"q\\\"{tenant}\"}"), template: template)
                == .success("x{a=\"q\\\"it's\"}"))
        let outside = PrometheusCheck.query(
            PrometheusQuery(url: "", query: "sum by ({tenant}) (x)"), template: template)
        #expect(outside == .failure(.init("{tenant} ('it's') is outside a string literal and not a plain name")))
    }

    @Test
    func comparesMediansInTheDirectionThatIsWorse() {
        let ratio = CohortComparison(maxRegression: .ratio(0.2), minSamples: 2)
        #expect(ratio.judge(changed: [30, 31], baseline: [10, 11, 12], higherIsWorse: true).verdict == .fail)
        #expect(ratio.judge(changed: [11.5, 12], baseline: [10, 10], higherIsWorse: true).verdict == .pass)
        #expect(ratio.judge(changed: [50, 50], baseline: [50, 50], higherIsWorse: true).verdict == .pass)
        // A floor (throughput): lower is worse.
        #expect(ratio.judge(changed: [70, 70], baseline: [100, 100], higherIsWorse: false).verdict == .fail)
        #expect(ratio.judge(changed: [130, 130], baseline: [100, 100], higherIsWorse: false).verdict == .pass)
        #expect(ratio.judge(changed: [1], baseline: [1, 1], higherIsWorse: true).verdict == .inconclusive)
        let absolute = CohortComparison(maxRegression: .absolute(5), minSamples: 1)
        let judged = absolute.judge(changed: [16], baseline: [10], higherIsWorse: true)
        #expect(judged.verdict == .fail && judged.value == "16" && judged.baseline == "10")
        #expect(
            judged.detail == "changed median 16 (1) vs baseline median 10 (1): 6 higher, more than max_regression 5")
    }
}

/// Serves `/metrics` in Prometheus' text format: `app_errors{tenant="…"} value` for the values set.
final class MetricsExporter: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Double] = [:]
    private var server: CanaryHTTPServer!

    init() throws {
        server = try CanaryHTTPServer { [unowned self] target in
            guard target.hasPrefix("/metrics") else { return (404, "not found") }
            return (200, self.text)
        }
    }

    var port: Int { server.port }

    func set(_ tenant: String, _ value: Double) {
        lock.lock()
        values[tenant] = value
        lock.unlock()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        var lines = ["# TYPE app_errors gauge"]
        for (tenant, value) in values.sorted(by: { $0.key < $1.key }) {
            lines.append("app_errors{tenant=\"\(tenant)\"} \(value)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func stop() { server.stop() }
}

/// A `prometheus` process on a free port of 127.0.0.1 with a temporary config and storage, scraping one target
/// every second. Runs as the current user; stopped (and its folder removed) by `stop()`.
final class PrometheusServer: @unchecked Sendable {
    let port: Int
    let process: Process
    let directory: URL

    var base: String { "http://127.0.0.1:\(port)" }

    static func binary() throws -> String {
        for path in ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw CanaryError("prometheus is not installed (apt-get install -y --no-install-recommends prometheus)")
    }

    /// A port nothing listens on now: bound to 0, read back, released.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CanaryError("socket: \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw CanaryError("bind: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private init(port: Int, process: Process, directory: URL) {
        self.port = port
        self.process = process
        self.directory = directory
    }

    static func start(scraping target: Int) async throws -> PrometheusServer {
        let binary = try binary()
        let directory = try makeScratchDirectory(prefix: "flotilla-test-prom")
        let config = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: app
                scrape_interval: 1s
                scrape_timeout: 900ms
                static_configs:
                  - targets: ['127.0.0.1:\(target)']
            """
        try config.write(to: directory.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        // A port taken between freePort and the server's bind: try another.
        for _ in 0..<5 {
            let port = try freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "--config.file=\(directory.path)/prometheus.yml",
                "--storage.tsdb.path=\(directory.path)/data",
                "--web.listen-address=127.0.0.1:\(port)",
                "--log.level=warn",
            ]
            process.currentDirectoryURL = directory
            let log = FileHandle(forWritingAtPath: "/dev/null")
            process.standardOutput = log
            process.standardError = log
            try process.run()
            let server = PrometheusServer(port: port, process: process, directory: directory)
            if try await server.waitUntilReady() { return server }
            process.terminate()
            process.waitUntilExit()
        }
        throw CanaryError("prometheus did not start")
    }

    /// Whether `/-/ready` answers 200 within a minute (false when the process exited first).
    func waitUntilReady() async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { return false }
            if let (status, _) = try? await get("/-/ready"), status == 200 { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// Waits (up to two minutes) until `query` returns a non-empty result: the scrapes have landed.
    func waitForData(_ query: String) async throws {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = query.addingPercentEncoding(withAllowedCharacters: allowed) ?? query
        let deadline = ContinuousClock.now + .seconds(120)
        var last = ""
        while ContinuousClock.now < deadline {
            if let (status, body) = try? await get("/api/v1/query?query=\(encoded)") {
                last = body
                if status == 200, body.contains("\"result\":[{") { return }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw CanaryError("no data for \(query) from prometheus: \(last)")
    }

    func get(_ path: String) async throws -> (Int, String) {
        let url = URL(string: base + path)!
        let (data, response) = try await URLSession.shared.data(from: url)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
