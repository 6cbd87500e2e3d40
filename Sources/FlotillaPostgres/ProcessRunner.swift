import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a finished subprocess left behind.
package struct ProcessResult: Sendable {
    /// The exit status, or 128 + the signal number when a signal ended it.
    package var status: Int32
    package var standardOutput: String
    package var standardError: String

    package var succeeded: Bool { status == 0 }

    /// Both outputs, for messages.
    package var combinedOutput: String {
        [standardOutput, standardError].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }.joined(separator: "\n")
    }
}

/// A program could not be started.
package struct ProcessRunnerError: Error, CustomStringConvertible {
    package var description: String
}

/// Runs programs to completion, capturing their output, or under a time limit, keeping the end of their output
/// (`ProcessRunner+TimeLimit.swift`). Every child is started by one function, `spawn`, at the end of this file.
///
/// On Linux this spawns with `posix_spawn` and reaps with `waitpid` itself instead of using
/// Foundation's `Process`: there, `Process` learns that a child ended when a socket it hands to
/// the child is closed — and `pg_ctl start` passes that socket on to the server it leaves running,
/// so `waitUntilExit()` would wait for as long as PostgreSQL runs. Here the child gets only
/// standard input, output and error (every other descriptor is closed), so no server started by
/// a child holds on to this process's pipes, sockets or connections. (Elsewhere, runs to completion use
/// `Process`.)
package enum ProcessRunner {
    /// Runs a program to completion, blocking the calling thread; `input` (or `/dev/null`) is its
    /// standard input.
    package static func run(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: URL? = nil,
        input: String? = nil
    ) throws -> ProcessResult {
        #if os(Linux)
            try spawnAndWait(
                executable, arguments, environment: environment ?? ProcessInfo.processInfo.environment,
                currentDirectory: currentDirectory, input: input.map { Array($0.utf8) } ?? [])
        #else
            try runWithFoundation(
                executable, arguments, environment: environment, currentDirectory: currentDirectory, input: input)
        #endif
    }

    /// Runs a program to completion on a thread of its own, leaving the concurrency pool free. With
    /// `terminateOnCancel`, cancelling the calling task sends SIGTERM to the program's process group (Linux).
    package static func run(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: URL? = nil,
        terminateOnCancel: Bool = false
    ) async throws -> ProcessResult {
        let child = RunningChild()
        var onStart: (@Sendable (pid_t) -> Void)?
        if terminateOnCancel { onStart = { @Sendable pid in child.started(pid) } }
        let started = onStart
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ProcessResult, any Error>) in
                Thread.detachNewThread {
                    let result = Result<ProcessResult, any Error> {
                        #if os(Linux)
                            return try spawnAndWait(
                                executable, arguments,
                                environment: environment ?? ProcessInfo.processInfo.environment,
                                currentDirectory: currentDirectory, input: [], started: started)
                        #else
                            return try run(
                                executable, arguments, environment: environment, currentDirectory: currentDirectory,
                                input: nil)
                        #endif
                    }
                    continuation.resume(with: result)
                }
            }
        } onCancel: {
            if terminateOnCancel { child.terminate() }
        }
    }

    /// The process group of a child to stop when its caller is cancelled, also if that comes before the spawn.
    private final class RunningChild: @unchecked Sendable {
        private let lock = NSLock()
        private var pid: pid_t?
        private var cancelled = false

        func started(_ pid: pid_t) {
            lock.lock()
            self.pid = pid
            let stop = cancelled
            lock.unlock()
            if stop { kill(-pid, SIGTERM) }
        }

        func terminate() {
            lock.lock()
            cancelled = true
            let pid = self.pid
            lock.unlock()
            if let pid { kill(-pid, SIGTERM) }
        }
    }

    /// Looks a program up in `PATH` and the usual system folders (`runuser` and `useradd` live in `/usr/sbin`).
    package static func find(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> URL?
    {
        let directories =
            (environment["PATH"] ?? "").split(separator: ":").map(String.init) + [
                "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
            ]
        for directory in directories where !directory.isEmpty {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}

#if os(Linux)
    extension ProcessRunner {
        private static func spawnAndWait(
            _ executable: URL,
            _ arguments: [String],
            environment: [String: String],
            currentDirectory: URL?,
            input: [UInt8],
            started: (@Sendable (pid_t) -> Void)? = nil
        ) throws(ProcessRunnerError) -> ProcessResult {
            // Standard input is a socket so that writing to a child that stopped reading fails
            // with EPIPE (MSG_NOSIGNAL) instead of raising SIGPIPE.
            var stdinPipe: [Int32] = [-1, -1]
            var stdoutPipe: [Int32] = [-1, -1]
            var stderrPipe: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &stdinPipe) == 0
            else { throw failure(executable, "socketpair") }
            guard makePipe(&stdoutPipe) else {
                for end in stdinPipe { close(end) }
                throw failure(executable, "pipe")
            }
            guard makePipe(&stderrPipe) else {
                for end in stdinPipe + stdoutPipe { close(end) }
                throw failure(executable, "pipe")
            }
            var inputEnd = stdinPipe[1]
            var outputEnd = stdoutPipe[0]
            var errorEnd = stderrPipe[0]
            defer {
                for end in [inputEnd, outputEnd, errorEnd] where end >= 0 { close(end) }
            }
            let spawned = Result { () throws(ProcessRunnerError) in
                try spawn(
                    executable, arguments, environment: environment, currentDirectory: currentDirectory,
                    input: .descriptor(stdinPipe[0]), output: stdoutPipe[1], error: stderrPipe[1])
            }
            close(stdinPipe[0])
            close(stdoutPipe[1])
            close(stderrPipe[1])
            let pid = try spawned.get()
            started?(pid)

            let (output, errors) = exchange(
                input: input, inputDescriptor: &inputEnd, outputDescriptor: &outputEnd, errorDescriptor: &errorEnd)

            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 {
                guard errno == EINTR else { throw failure(executable, "waitpid") }
            }
            let signal = status & 0x7f
            return ProcessResult(
                status: signal == 0 ? (status >> 8) & 0xff : 128 + signal,
                standardOutput: String(decoding: output, as: UTF8.self),
                standardError: String(decoding: errors, as: UTF8.self)
            )
        }

        /// Writes `input` to the child and reads its output and error until both are closed,
        /// all at once, so that neither side can block on a full pipe. Closes the descriptors.
        private static func exchange(
            input: [UInt8],
            inputDescriptor: inout Int32,
            outputDescriptor: inout Int32,
            errorDescriptor: inout Int32
        ) -> (output: [UInt8], errors: [UInt8]) {
            var output: [UInt8] = []
            var errors: [UInt8] = []
            var written = 0
            var buffer = [UInt8](repeating: 0, count: 65_536)
            if input.isEmpty {
                close(inputDescriptor)
                inputDescriptor = -1
            } else {
                _ = fcntl(inputDescriptor, F_SETFL, fcntl(inputDescriptor, F_GETFL) | O_NONBLOCK)
            }
            while outputDescriptor >= 0 || errorDescriptor >= 0 || inputDescriptor >= 0 {
                var polled: [pollfd] = []
                if inputDescriptor >= 0 {
                    polled.append(pollfd(fd: inputDescriptor, events: Int16(POLLOUT), revents: 0))
                }
                if outputDescriptor >= 0 {
                    polled.append(pollfd(fd: outputDescriptor, events: Int16(POLLIN), revents: 0))
                }
                if errorDescriptor >= 0 {
                    polled.append(pollfd(fd: errorDescriptor, events: Int16(POLLIN), revents: 0))
                }
                guard poll(&polled, nfds_t(polled.count), -1) >= 0 else {
                    if errno == EINTR { continue }
                    break
                }
                for entry in polled where entry.revents != 0 {
                    if entry.fd == inputDescriptor {
                        let count = input[written...].withUnsafeBytes {
                            send(entry.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                        }
                        if count > 0 { written += count }
                        if written == input.count || (count < 0 && errno != EAGAIN && errno != EINTR) {
                            close(inputDescriptor)
                            inputDescriptor = -1
                        }
                        continue
                    }
                    let count = read(entry.fd, &buffer, buffer.count)
                    if count > 0 {
                        if entry.fd == outputDescriptor {
                            output += buffer[..<count]
                        } else {
                            errors += buffer[..<count]
                        }
                    } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        close(entry.fd)
                        if entry.fd == outputDescriptor { outputDescriptor = -1 } else { errorDescriptor = -1 }
                    }
                }
            }
            return (output, errors)
        }

        /// A pipe whose ends close on exec. (Children close every other descriptor anyway.)
        private static func makePipe(_ ends: inout [Int32]) -> Bool {
            guard pipe(&ends) == 0 else { return false }
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            return true
        }
    }
#else
    extension ProcessRunner {
        private static func runWithFoundation(
            _ executable: URL,
            _ arguments: [String],
            environment: [String: String]?,
            currentDirectory: URL?,
            input: String?
        ) throws -> ProcessResult {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            if let environment { process.environment = environment }
            if let currentDirectory { process.currentDirectoryURL = currentDirectory }
            let output = Pipe()
            let error = Pipe()
            let inputPipe = Pipe()
            process.standardOutput = output
            process.standardError = error
            process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
            try process.run()
            let errorBox = DataBox()
            let drained = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                errorBox.data = error.fileHandleForReading.readDataToEndOfFile()
                drained.signal()
            }
            if let input {
                inputPipe.fileHandleForWriting.write(Data(input.utf8))
                try? inputPipe.fileHandleForWriting.close()
            }
            let outputData = output.fileHandleForReading.readDataToEndOfFile()
            drained.wait()
            process.waitUntilExit()
            return ProcessResult(
                status: process.terminationStatus,
                standardOutput: String(decoding: outputData, as: UTF8.self),
                standardError: String(decoding: errorBox.data, as: UTF8.self)
            )
        }
    }

    private final class DataBox: @unchecked Sendable {
        var data = Data()
    }
#endif

// MARK: - Spawning

extension ProcessRunner {
    /// Where a child's standard input comes from.
    enum StandardInput {
        case nullDevice
        case descriptor(Int32)
    }

    #if os(Linux)
        private typealias AddCloseFrom =
            @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) ->
            Int32
        private typealias AddChdir =
            @convention(c) (
                UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>
            ) -> Int32

        /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34) and `…_addchdir_np` (2.29),
        /// which the Glibc module does not import.
        private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
            unsafeBitCast($0, to: AddCloseFrom.self)
        }
        private static let addChdir: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map {
            unsafeBitCast($0, to: AddChdir.self)
        }

        /// This process's open descriptors, from `/proc/self/fd`.
        private static func openDescriptors() -> [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        }
    #endif

    static func failure(_ executable: URL, _ what: String, _ code: Int32 = errno) -> ProcessRunnerError {
        ProcessRunnerError(description: "cannot run \(executable.path): \(what): \(String(cString: strerror(code)))")
    }

    /// Starts a program with `posix_spawn` and returns its process id; the caller reaps it.
    ///
    /// The child runs in a process group of its own (a terminal's Ctrl-C is for us, not for the child, and the
    /// whole group can be stopped at once), with no blocked signals and SIGPIPE, SIGINT and SIGTERM at their
    /// defaults (Swift programs ignore SIGPIPE, and `flotilla` ignores SIGINT and SIGTERM while it handles them
    /// itself). Its standard input comes from `input`, its output and error go to `output` and `error` (which may be
    /// the same descriptor), and every other descriptor is closed, so it holds on to none of this process's pipes,
    /// sockets or connections.
    static func spawn(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String],
        currentDirectory: URL?,
        input: StandardInput,
        output: Int32,
        error: Int32
    ) throws(ProcessRunnerError) -> pid_t {
        #if os(Linux)
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
        #else
            var actions: posix_spawn_file_actions_t? = nil
            var attributes: posix_spawnattr_t? = nil
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        switch input {
        case .nullDevice: posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .descriptor(let descriptor): posix_spawn_file_actions_adddup2(&actions, descriptor, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, error, 2)
        var program = executable.path
        var argv = [executable.path] + arguments
        #if os(Linux)
            if let addCloseFrom {
                _ = addCloseFrom(&actions, 3)
            } else {
                for descriptor in openDescriptors() where descriptor > 2 {
                    posix_spawn_file_actions_addclose(&actions, descriptor)
                }
            }
            if let currentDirectory {
                if let addChdir {
                    let status = currentDirectory.path.withCString { addChdir(&actions, $0) }
                    guard status == 0 else { throw failure(executable, "chdir \(currentDirectory.path)", status) }
                } else {
                    // Older glibc: let env(1) change directory.
                    program = "/usr/bin/env"
                    argv = ["env", "-C", currentDirectory.path, executable.path] + arguments
                }
            }
        #else
            if let currentDirectory {
                throw failure(executable, "chdir \(currentDirectory.path)", ENOTSUP)
            }
        #endif

        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGPIPE, SIGINT, SIGTERM] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        #if os(Linux)
            let flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        #else
            // Darwin closes every descriptor not named above with this flag.
            let flags =
                POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_CLOEXEC_DEFAULT
        #endif
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in cArguments + cEnvironment { free(pointer) }
        }
        var pid = pid_t()
        let status = posix_spawn(&pid, program, &actions, &attributes, cArguments, cEnvironment)
        guard status == 0 else { throw failure(executable, "spawn", status) }
        return pid
    }
}
