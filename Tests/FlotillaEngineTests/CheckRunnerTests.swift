import FlotillaModel
import Foundation
import Testing

@testable import FlotillaEngine

/// Check runners against real programs and a real HTTP server (no database).
struct CheckRunnerTests {
    static let template = CheckTemplate(tenant: "t1", shard: "pg-a", wave: "canary", phase: "expand", rollout: "r-1")

    @Test(.timeLimit(.minutes(10)))
    func commandExitStatusDecides() async {
        let pass = await CommandCheck.measure(["true"], template: Self.template, timeout: .seconds(5))
        #expect(pass.verdict == .pass)
        let fail = await CommandCheck.measure(
            ["sh", "-c", "echo replica lag 40s; exit 2"], template: Self.template, timeout: .seconds(5))
        #expect(fail.verdict == .fail)
        #expect(fail.value == "exit 2")
        #expect(fail.detail == "exit 2: replica lag 40s")
        let missing = await CommandCheck.measure(
            ["/nonexistent/flotilla-check"], template: Self.template, timeout: .seconds(5))
        #expect(missing.verdict == .error)
        #expect(missing.detail.contains("not found"))
        let crashed = await CommandCheck.measure(
            ["sh", "-c", "kill -SEGV $$"], template: Self.template, timeout: .seconds(5))
        #expect(crashed.verdict == .error)
        #expect(crashed.detail.contains("signal 11"))
    }

    @Test(.timeLimit(.minutes(10)))
    func commandGetsTemplatedArgumentsAndTheFlotillaEnvironment() async {
        let result = await CommandCheck.measure(
            [
                "sh", "-c",
                "echo \"$FLOTILLA_TENANT $FLOTILLA_SHARD $FLOTILLA_PHASE $FLOTILLA_WAVE $FLOTILLA_ROLLOUT $1\"; exit 1",
                "sh", "{tenant}/{shard}/{wave}/{phase}/{rollout}",
            ],
            template: Self.template, timeout: .seconds(5))
        #expect(result.detail == "exit 1: t1 pg-a expand canary r-1 t1/pg-a/canary/expand/r-1")
    }

    @Test(.timeLimit(.minutes(10)))
    func hangingCommandIsKilledWithEverythingItStartedAtItsTimeout() async throws {
        let marker = "\(Int.random(in: 1000...9999)).\(Int.random(in: 100...999))"
        let clock = ContinuousClock()
        let started = clock.now
        // The shell starts a grandchild that would outlive a kill of the shell alone.
        let result = await CommandCheck.measure(
            ["sh", "-c", "sleep \(marker) & wait"], template: Self.template, timeout: .milliseconds(200))
        let elapsed = clock.now - started
        #expect(result.verdict == .error)
        #expect(result.detail.hasPrefix("still running after the timeout of 200 ms; killed"))
        #expect(elapsed < .seconds(5))
        try await Task.sleep(for: .milliseconds(100))
        #expect(CanaryProbeTests.processes(containing: "sleep \(marker)").isEmpty)
    }

    @Test(.timeLimit(.minutes(10)))
    func cancellingAMeasurementKillsItsCommand() async throws {
        let marker = "\(Int.random(in: 1000...9999)).\(Int.random(in: 100...999))"
        let task = Task {
            await CommandCheck.measure(["sleep", marker], template: Self.template, timeout: .seconds(60))
        }
        let running = try await eventually(within: .seconds(30)) {
            !CanaryProbeTests.processes(containing: "sleep \(marker)").isEmpty
        }
        #expect(running)
        task.cancel()
        let result = await task.value
        #expect(result.verdict == .error)
        let gone = try await eventually(within: .seconds(5)) {
            CanaryProbeTests.processes(containing: "sleep \(marker)").isEmpty
        }
        #expect(gone)
    }

    @Test(.timeLimit(.minutes(10)))
    func httpProbeAgainstALocalServer() async throws {
        let server = try CanaryHTTPServer { target in
            if target.hasPrefix("/slow") {
                Thread.sleep(forTimeInterval: 1.5)
                return (200, "late")
            }
            if target.hasPrefix("/json") { return (200, #"{"status": "ok", "lag": 2}"#) }
            return target.contains("tenant=t1") ? (200, "ok") : (503, "overloaded")
        }
        defer { server.stop() }
        let pass = await HTTPCheck.measure(
            HTTPProbe(url: "\(server.base)/health?tenant={tenant}&wave={wave}", bodyContains: "ok"),
            template: Self.template,
            timeout: .seconds(5))
        #expect(pass.verdict == .pass)
        #expect(pass.value == "200")
        #expect(server.requests.last == "/health?tenant=t1&wave=canary")

        var other = Self.template
        other.tenant = "t2"
        let fail = await HTTPCheck.measure(
            HTTPProbe(url: "\(server.base)/health?tenant={tenant}"), template: other, timeout: .seconds(5))
        #expect(fail.verdict == .fail)
        #expect(fail.detail == "HTTP 503, expected 200: overloaded")

        let json = await HTTPCheck.measure(
            HTTPProbe(url: "\(server.base)/json", jsonField: "lag", jsonEquals: "2"), template: Self.template,
            timeout: .seconds(5))
        #expect(json.verdict == .pass)

        let slow = await HTTPCheck.measure(
            HTTPProbe(url: "\(server.base)/slow"), template: Self.template, timeout: .milliseconds(300))
        #expect(slow.verdict == .error)
        #expect(slow.detail.contains("no response within the timeout of 300 ms"))

        let tooSlow = await HTTPCheck.measure(
            HTTPProbe(url: "\(server.base)/slow", maxLatency: .milliseconds(500)), template: Self.template,
            timeout: .seconds(5))
        #expect(tooSlow.verdict == .fail)
        #expect(tooSlow.detail.contains("more than max_latency 500 ms"))
    }

    /// A bake stops at the first failing measurement and cancels the probes still in flight; they must end.
    @Test(.timeLimit(.minutes(10)))
    func cancellingHTTPProbesInFlightEndsThem() async throws {
        let server = try CanaryHTTPServer { _ in (404, "gone") }
        defer { server.stop() }
        for _ in 0..<20 {
            let verdicts = await withTaskGroup(of: CheckMeasurement.Verdict.self) { group in
                for index in 0..<9 {
                    group.addTask {
                        await HTTPCheck.measure(
                            HTTPProbe(url: "\(server.base)/health?tenant=\(index)"), template: Self.template,
                            timeout: .seconds(30)
                        ).verdict
                    }
                }
                var verdicts: [CheckMeasurement.Verdict] = []
                for await verdict in group {
                    verdicts.append(verdict)
                    if verdicts.count == 3 { group.cancelAll() }
                }
                return verdicts
            }
            #expect(verdicts.count == 9)
            #expect(verdicts.allSatisfy { $0 == .fail || $0 == .error })
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func refusedConnectionIsAnError() async throws {
        let server = try CanaryHTTPServer { _ in (200, "ok") }
        let port = server.port
        server.stop()
        let result = await HTTPCheck.measure(
            HTTPProbe(url: "http://127.0.0.1:\(port)/health"), template: Self.template, timeout: .seconds(5))
        #expect(result.verdict == .error)
        #expect(result.detail.contains("failed"))
    }
}
