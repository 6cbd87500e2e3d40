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

    /// Under a time limit: output and error together, only their end kept; the environment as given; the run ends
    /// when the program does, not when what it left in the background does.
    @Test(.timeLimit(.minutes(10)))
    func timeLimitedRunKeepsTheEndOfTheOutput() async throws {
        let shell = URL(fileURLWithPath: "/bin/sh")
        let both = try await ProcessRunner.run(
            shell, ["-c", "echo out; echo err >&2; echo \"$GREETING\"; exit 3"], environment: ["GREETING": "hi"],
            timeout: .seconds(60), keepingLast: 100)
        #expect(both.ending == .exited(3))
        #expect(both.output == "out\nerr\nhi\n")
        let long = try await ProcessRunner.run(
            shell, ["-c", "head -c 5000 /dev/zero | tr '\\0' x; echo; echo last"], timeout: .seconds(60),
            keepingLast: 10)
        #expect(long.ending == .exited(0))
        #expect(long.output == "xxxx\nlast\n")
        let started = ContinuousClock.now
        let quick = try await ProcessRunner.run(
            shell, ["-c", "sleep 20 & echo bye"], timeout: .seconds(60), keepingLast: 100)
        #expect(quick.ending == .exited(0) && quick.output == "bye\n")
        #expect(ContinuousClock.now - started < .seconds(15))
        await #expect(throws: ProcessRunnerError.self) {
            try await ProcessRunner.run(
                URL(fileURLWithPath: "/nonexistent/program"), [], timeout: .seconds(60), keepingLast: 100)
        }
    }
}
