import FlotillaModel
import FlotillaPostgres
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `command` check: the program with its templated arguments and `FLOTILLA_*` in its environment; exit 0
/// passes, another exit status fails; a program that cannot start, dies of a signal, or runs past the check's
/// timeout (it is then killed, with everything it started) is an error.
enum CommandCheck {
    /// How a program ended.
    enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
        case cancelled
    }

    static func verdict(_ ending: Ending, timeout: Duration, output: String) -> (
        CheckMeasurement.Verdict, String?, String
    ) {
        let tail = output.isEmpty ? "" : ": \(output)"
        switch ending {
        case .exited(0): return (.pass, "exit 0", "exit 0\(tail)")
        case .exited(let status): return (.fail, "exit \(status)", "exit \(status)\(tail)")
        case .signalled(let signal): return (.error, "signal \(signal)", "killed by signal \(signal)\(tail)")
        case .timedOut:
            return (.error, nil, "still running after the timeout of \(timeout.milliseconds) ms; killed\(tail)")
        case .cancelled: return (.error, nil, "cancelled; killed")
        }
    }

    /// Runs the check once; never throws: a failure to measure is an `error` measurement.
    static func measure(_ argv: [String], template: CheckTemplate, timeout: Duration) async -> (
        verdict: CheckMeasurement.Verdict, value: String?, detail: String
    ) {
        let arguments = argv.map { template.fill($0) }
        guard let program = arguments.first, !program.isEmpty else { return (.error, nil, "no program to run") }
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in template.environment { environment[key] = value }
        guard let executable = resolve(program, environment: environment) else {
            return (.error, nil, "cannot run \(program): not found (PATH: \(environment["PATH"] ?? ""))")
        }
        do {
            let (ending, output) = try await ChildProcess.run(
                executable: executable, arguments: Array(arguments.dropFirst()), environment: environment,
                timeout: timeout)
            return verdict(ending, timeout: timeout, output: output)
        } catch {
            return (.error, nil, "cannot run \(program): \(error)")
        }
    }

    /// A path as given (relative to the current folder), or a name looked up in `PATH`.
    static func resolve(_ program: String, environment: [String: String]) -> String? {
        if program.contains("/") {
            return FileManager.default.isExecutableFile(atPath: program) ? program : nil
        }
        return ProcessRunner.find(program, environment: environment)?.path
    }
}

/// A child process in its own process group, its output (standard output and error together) in a temporary
/// file; killed with its whole group at the timeout or when the task is cancelled.
enum ChildProcess {
    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// The last bytes of the output kept for the measurement's detail.
    static let outputTail = 300

    static func run(executable: String, arguments: [String], environment: [String: String], timeout: Duration)
        async throws -> (CommandCheck.Ending, String)
    {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("flotilla-check-\(getpid())-\(UInt64.random(in: 0..<UInt64.max)).out").path
        defer { unlink(outputPath) }
        let pid = try spawn(executable, arguments, environment: environment, output: outputPath)
        let child = Child(pid: pid)
        let ending: CommandCheck.Ending = await withTaskCancellationHandler {
            await withTaskGroup(of: CommandCheck.Ending?.self) { group in
                group.addTask { await child.wait() }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return Task.isCancelled ? nil : .timedOut
                }
                var result: CommandCheck.Ending = .cancelled
                while let next = await group.next() {
                    guard let next else { continue }
                    result = next
                    break
                }
                if result == .timedOut || result == .cancelled { child.killGroup() }
                group.cancelAll()
                // Reap it (a killed group ends at once).
                let final = await child.wait()
                return result == .timedOut || result == .cancelled ? result : final
            }
        } onCancel: {
            child.killGroup()
        }
        return (Task.isCancelled ? .cancelled : ending, tail(of: outputPath))
    }

    static func tail(of path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > UInt64(outputTail) ? size - UInt64(outputTail) : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
            .joined(separator: " | ").trimmingCharacters(in: .whitespaces)
    }

    /// The running child: reaped once, by one thread; its group killed only while it is not yet reaped (after
    /// that its pid may belong to another process).
    final class Child: @unchecked Sendable {
        let pid: pid_t
        private let lock = NSLock()
        private var reaped = false
        private var waiting = false
        private var ending: CommandCheck.Ending?
        private var waiters: [CheckedContinuation<CommandCheck.Ending, Never>] = []

        init(pid: pid_t) {
            self.pid = pid
        }

        /// Waits for the child to end (one thread blocks in waitpid for it).
        func wait() async -> CommandCheck.Ending {
            await withCheckedContinuation { continuation in
                lock.lock()
                if let ending {
                    lock.unlock()
                    continuation.resume(returning: ending)
                    return
                }
                waiters.append(continuation)
                let start = !waiting
                waiting = true
                lock.unlock()
                if start { Thread.detachNewThread { self.reap() } }
            }
        }

        private func reap() {
            var status: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(pid, &status, 0) } while result == -1 && errno == EINTR
            let signal = status & 0x7f
            let ended: CommandCheck.Ending =
                result == -1 ? .exited(-1) : signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
            lock.lock()
            reaped = true
            ending = ended
            let resumed = waiters
            waiters = []
            lock.unlock()
            for waiter in resumed { waiter.resume(returning: ended) }
        }

        /// SIGKILL to the child's whole process group (and the child), unless it was already reaped.
        func killGroup() {
            lock.lock()
            defer { lock.unlock() }
            guard !reaped else { return }
            _ = kill(-pid, SIGKILL)
            _ = kill(pid, SIGKILL)
        }
    }

    #if os(Linux)
        private typealias AddCloseFrom =
            @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) ->
            Int32
        /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34), which the Glibc module does not import.
        private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
            unsafeBitCast($0, to: AddCloseFrom.self)
        }
    #endif

    /// posix_spawn in a new process group, standard input from /dev/null, output and error to `output`, every
    /// other descriptor closed, signals at their defaults.
    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String], output: String)
        throws -> pid_t
    {
        #if os(Linux)
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
        #else
            var actions: posix_spawn_file_actions_t? = nil
            var attributes: posix_spawnattr_t? = nil
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        #if os(Linux)
            if let addCloseFrom {
                _ = addCloseFrom(&actions, 3)
            } else {
                let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap {
                    Int32($0)
                }
                for descriptor in open where descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
            }
        #endif
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        sigaddset(&defaultSignals, SIGPIPE)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        #if os(Linux)
            let flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        #else
            let flags =
                POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_CLOEXEC_DEFAULT
        #endif
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let cArguments = ([executable] + arguments).map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in cArguments + cEnvironment { free(pointer) }
        }
        var pid = pid_t()
        let status = posix_spawn(&pid, executable, &actions, &attributes, cArguments, cEnvironment)
        guard status == 0 else { throw SpawnError(description: String(cString: strerror(status))) }
        return pid
    }
}
