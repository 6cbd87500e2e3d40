import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `/metrics` of `flotilla serve` (the built binary) after a real rollout with a check, halted mid-way: every series
/// read from the journal agrees with the control store.
@Suite(.serialized, .heavy)
struct MetricsTests {
    typealias Harness = DashboardHarness
    static let token = "metrics-test-token"

    @Test(.timeLimit(.minutes(10))) func scrapeAgreesWithTheJournalAfterAHaltedRollout() async throws {
        let children = try Harness.Children(prefix: "metrics")
        defer {
            children.stopAll()
            children.remove()
        }
        let control = try await TestCluster.shared.freshDatabase(prefix: "mx_ctl")
        let shard = try await TestCluster.shared.freshDatabase(prefix: "mx_s1")
        let tenants = 30
        _ = try psql(
            shard, (1...tenants).map { String(format: "CREATE SCHEMA tenant_m%03d;", $0) }.joined(separator: "\n"))
        try children.write(
            "fleets/web/fleet.yaml",
            """
            fleet: web
            control: "\(postgresURL(control))"
            shards:
              - name: s1
                url: "\(postgresURL(shard))"
            tenants:
              - generate: {count: \(tenants), id: "m{n:03}", shard: [s1], schema: "tenant_{id}"}

            """)
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
              - {name: canary, select: {tenants: [m001, m002]}, bake: 1s}
              - {name: rest, select: {remaining: true}, bake: 0s}
            parallel: 2
            per_shard_parallel: 2
            lock_timeout: 5s
            statement_timeout: 1m
            retries: {attempts: 3, backoff: 100ms}
            checks:
              - name: ready
                command: ["true"]
                scope: wave
                interval: 100ms
                timeout: 5s
            on_failure: halt
            on_inconclusive: halt

            """)
        // The server first: on a busy machine its start can take longer than a rollout of quick steps. Steps of 1 s,
        // two at a time, leave the rollout running for 10 s and more after its fifth step, whatever the load.
        let (server, port) = try await children.serve(control: control, token: Self.token)
        let rollout = try children.flotilla(
            "rollout", ["rollout", "--fleet", "web", "--change", "0001_slow", "--policy", "p", "--yes"])
        let busy = try await eventually(within: .seconds(180)) {
            try !rollout.isRunning || Self.count(control, "steps WHERE state = 'applied'") >= 5
        }
        try #require(
            busy && rollout.isRunning, "the rollout was not running when it should be halted: \(rollout.transcript)")

        var halt = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/halt")!)
        halt.httpMethod = "POST"
        halt.setValue("application/json", forHTTPHeaderField: "Content-Type")
        halt.setValue("Bearer \(Self.token)", forHTTPHeaderField: "Authorization")
        halt.httpBody = Data(#"{"fleet": "web", "reason": "metrics test", "by": "tests"}"#.utf8)
        let (_, answer) = try await URLSession.shared.data(for: halt)
        #expect((answer as? HTTPURLResponse)?.statusCode == 200, "\(server.transcript)")
        let status = try await rollout.wait(limit: .seconds(120))
        #expect(status == 3, "\(rollout.transcript)")
        #expect(try Self.count(control, "steps WHERE state = 'running'") == 0)

        let (data, response) = try await URLSession.shared.data(
            from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let text = String(decoding: data, as: UTF8.self)
        let id = try psql(control, "SELECT id FROM flotilla.rollouts")

        // The step-duration histogram counts every finished step of the journal, in its +Inf bucket too.
        let finished = try Self.count(control, "steps WHERE duration_ms IS NOT NULL")
        #expect(finished >= 5)
        #expect(Self.value(text, "flotilla_step_duration_seconds_count") == Double(finished), "\(text)")
        #expect(Self.value(text, "flotilla_step_duration_seconds_bucket{le=\"+Inf\"}") == Double(finished))
        let seconds = try Double(psql(control, "SELECT sum(duration_ms) / 1000.0 FROM flotilla.steps"))!
        #expect(abs((Self.value(text, "flotilla_step_duration_seconds_sum") ?? -1) - seconds) < 0.01)

        // One counter per check and verdict, equal to the measurements table.
        let verdicts = try psql(
            control,
            "SELECT check_name || '|' || verdict || '|' || count(*) FROM flotilla.measurements GROUP BY check_name, verdict ORDER BY 1"
        ).split(separator: "\n")
        #expect(!verdicts.isEmpty)
        for row in verdicts {
            let parts = row.split(separator: "|").map(String.init)
            #expect(
                Self.value(text, "flotilla_check_verdicts_total{check=\"\(parts[0])\",verdict=\"\(parts[1])\"}")
                    == Double(parts[2]), "\(text)")
        }
        let series = text.split(separator: "\n").filter { $0.hasPrefix("flotilla_check_verdicts_total{") }
        #expect(series.count == verdicts.count, "\(text)")

        // Tenants done and failed of the halted rollout, as its steps say; no series names a tenant.
        let done = try Self.count(control, "steps WHERE state = 'applied'")
        #expect(done >= 5 && done < tenants)
        #expect(Self.value(text, "flotilla_rollout_tenants{rollout=\"\(id)\",outcome=\"done\"}") == Double(done))
        #expect(Self.value(text, "flotilla_rollout_tenants{rollout=\"\(id)\",outcome=\"failed\"}") == 0)
        #expect(!text.contains("m001"))

        // The halt, once no step runs: how long after it the last step caught by it stopped.
        #expect(Self.value(text, "flotilla_halt_stop_seconds_count") == 1, "\(text)")
        let stop = try Double(
            psql(
                control,
                """
                SELECT coalesce(extract(epoch FROM max(s.finished_at) - h.halted_at), 0) FROM flotilla.halts h
                LEFT JOIN flotilla.steps s ON s.started_at <= h.halted_at AND s.finished_at >= h.halted_at
                GROUP BY h.halted_at
                """))!
        #expect(abs((Self.value(text, "flotilla_halt_stop_seconds_sum") ?? -1) - stop) < 0.01, "\(text)")
        #expect(Self.value(text, "flotilla_halts_active") == 1)
        #expect(Self.value(text, "flotilla_rollouts{state=\"halted\"}") == 1)

        // The server's own requests, through swift-metrics: the halt it answered, by route template.
        let halts = text.split(separator: "\n").first {
            $0.hasPrefix("hb_requests{") && $0.contains("http_route=\"/api/halt\"")
                && $0.contains("http_request_method=\"POST\"") && $0.contains("http_response_status_code=\"200\"")
        }
        #expect(halts.map { $0.hasSuffix(" 1") } == true, "\(text)")
    }

    /// `SELECT count(*) FROM flotilla.<from>`.
    static func count(_ url: ConnectionURL, _ from: String) throws -> Int {
        Int(try psql(url, "SELECT count(*) FROM flotilla.\(from)")) ?? -1
    }

    /// The value of the series written exactly `name{labels}` in the exposition text.
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}
