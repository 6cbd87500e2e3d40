import Foundation
import Testing

@testable import FlotillaPostgres

struct ProcessRunnerTests {
    /// A program run with `terminateOnCancel` ends when its caller is cancelled (SIGTERM to its process group);
    /// without it, it runs to its end.
    @Test(.timeLimit(.minutes(10)))
    func cancellingTheCallerTerminatesTheProgram() async throws {
        let shell = URL(fileURLWithPath: "/bin/sh")
        let started = ContinuousClock.now
        let task = Task {
            try await ProcessRunner.run(shell, ["-c", "sleep 30 & wait"], terminateOnCancel: true)
        }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let result = try await task.value
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(result.status == 128 + SIGTERM, "\(result)")

        let plain = Task { try await ProcessRunner.run(shell, ["-c", "sleep 0.5; echo done"]) }
        try await Task.sleep(for: .milliseconds(100))
        plain.cancel()
        let finished = try await plain.value
        #expect(finished.status == 0 && finished.standardOutput == "done\n")
    }
}
