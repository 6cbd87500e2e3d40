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
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `prometheus` checks against a real Prometheus server (Debian's `prometheus`), started on a free port with a
/// 1 s scrape of a small exporter the test serves: per-tenant gauges `app_errors{tenant="…"}` it controls.
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
