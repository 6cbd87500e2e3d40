import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Fixtures of the dashboard's tests that run real programs: the `flotilla` binary (`serve`, `rollout`), `curl` for
/// the event stream and the Python Selenium script that drives headless Chromium.
enum DashboardHarness {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The package root: three levels up from this file (`Tests/FlotillaServerTests/…`).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `.build/debug/flotilla` of this package; fails clearly when it was not built.
    static func flotillaBinary() throws -> URL {
        let binary = packageRoot.appendingPathComponent(".build/debug/flotilla")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw Failure("the flotilla executable is missing at \(binary.path): build it first with `swift build`")
        }
        return binary
    }

    /// The Selenium script that drives the dashboard in headless Chromium.
    static let browserScript = packageRoot.appendingPathComponent("Tests/FlotillaServerTests/Browser/dashboard.py")

    /// A running (or finished) child process with its output in files.
    final class Child: @unchecked Sendable {
        let name: String
        let process: Process
        let standardOutput: URL
        let standardError: URL

        init(name: String, process: Process, standardOutput: URL, standardError: URL) {
            self.name = name
            self.process = process
            self.standardOutput = standardOutput
            self.standardError = standardError
        }

        var isRunning: Bool { process.isRunning }
        var output: String { (try? String(contentsOf: standardOutput, encoding: .utf8)) ?? "" }
        var errors: String { (try? String(contentsOf: standardError, encoding: .utf8)) ?? "" }

        var exitStatus: Int32? {
            guard !process.isRunning, process.terminationReason == .exit else { return nil }
            return process.terminationStatus
        }

        var transcript: String {
            let status = process.isRunning ? "still running" : "exit \(process.terminationStatus)"
            return
                "[\(name): \(process.executableURL?.lastPathComponent ?? "") \(process.arguments?.joined(separator: " ") ?? "") — \(status)]\nstdout:\n\(output)\nstderr:\n\(errors)"
        }

        /// Sends `signal` if it still runs (only to this child, by its id).
        func signal(_ signal: Int32) {
            if process.isRunning { kill(process.processIdentifier, signal) }
        }

        /// Waits for the child to exit; after `limit` kills it with SIGKILL and returns nil.
        @discardableResult
        func wait(limit: Duration) async throws -> Int32? {
            let deadline = ContinuousClock.now + limit
            while process.isRunning {
                if ContinuousClock.now > deadline {
                    signal(SIGKILL)
                    while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
                    return nil
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            return exitStatus
        }
    }

    /// The children of one test, in a scratch folder; `stopAll` kills those still running (each by its own id).
    final class Children: @unchecked Sendable {
        let folder: URL
        private let lock = NSLock()
        private var children: [Child] = []

        init(prefix: String) throws {
            folder = try makeScratchDirectory(prefix: prefix)
        }

        func write(_ path: String, _ text: String) throws {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }

        /// Starts `executable ARGUMENTS` in the folder; stdout and stderr go to `NAME.out` / `NAME.err`.
        func start(
            _ name: String, _ executable: URL, _ arguments: [String], environment extra: [String: String] = [:]
        ) throws -> Child {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            process.currentDirectoryURL = folder
            var environment = ProcessInfo.processInfo.environment.filter {
                !$0.key.hasPrefix("PG") && $0.key != "FLOTILLA_CONTROL_URL" && $0.key != "FLOTILLA_API_TOKEN"
            }
            environment["FLOTILLA_HOME"] = folder.appendingPathComponent(".flotilla").path
            environment["FLOTILLA_LOG_LEVEL"] = "error"
            environment["USER"] = "flotilla-tests"
            environment.merge(extra) { $1 }
            process.environment = environment
            let standardOutput = folder.appendingPathComponent("\(name).out")
            let standardError = folder.appendingPathComponent("\(name).err")
            _ = FileManager.default.createFile(atPath: standardOutput.path, contents: nil)
            _ = FileManager.default.createFile(atPath: standardError.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: standardOutput)
            process.standardError = try FileHandle(forWritingTo: standardError)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let child = Child(
                name: name, process: process, standardOutput: standardOutput, standardError: standardError)
            lock.lock()
            children.append(child)
            lock.unlock()
            return child
        }

        /// `flotilla ARGUMENTS`.
        func flotilla(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Child {
            try start(name, try flotillaBinary(), arguments, environment: environment)
        }

        /// `flotilla serve` over `control` on a free port with `token`; returns it and the port once it listens.
        func serve(control: ConnectionURL, token: String) async throws -> (Child, Int) {
            let server = try flotilla(
                "serve", ["serve", "--control", postgresURL(control), "--port", "0"],
                environment: ["FLOTILLA_API_TOKEN": token])
            var port: Int?
            let listening = try await eventually(within: .seconds(120)) {
                port = Self.port(in: server.output)
                return port != nil || !server.isRunning
            }
            guard listening, let port else { throw Failure("flotilla serve did not start: \(server.transcript)") }
            return (server, port)
        }

        /// The port in `serving control store … on http://127.0.0.1:PORT/`.
        static func port(in output: String) -> Int? {
            guard let range = output.range(of: "on http://127.0.0.1:") else { return nil }
            return Int(output[range.upperBound...].prefix { $0.isNumber })
        }

        func stopAll() {
            lock.lock()
            let all = children
            lock.unlock()
            for child in all { child.signal(SIGKILL) }
            for child in all { child.process.waitUntilExit() }
        }

        func remove() {
            try? FileManager.default.removeItem(at: folder)
        }
    }
}

/// Polls `condition` every `interval` until it holds or `limit` passes; returns whether it held. The condition runs
/// on threads of its own (it may call psql, which blocks), never on the cooperative pool.
func eventually(
    within limit: Duration = .seconds(90), every interval: Duration = .milliseconds(100),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await withTaskExecutorPreference(ThreadPerJobExecutor.shared, operation: condition) { return true }
        try await Task.sleep(for: interval)
    }
    return try await withTaskExecutorPreference(ThreadPerJobExecutor.shared, operation: condition)
}

/// Runs each job on a thread of its own, for test code that blocks (psql, child processes).
final class ThreadPerJobExecutor: TaskExecutor {
    static let shared = ThreadPerJobExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        Thread.detachNewThread { job.runSynchronously(on: executor) }
    }
}
