import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a program run under a time limit ended.
package enum ProcessEnding: Sendable, Equatable {
    /// It exited with this status.
    case exited(Int32)
    /// A signal ended it, not sent by the runner.
    case signalled(Int32)
    /// It was still running at the time limit and was killed, with its whole process group.
    case timedOut
    /// The caller was cancelled and the program killed, with its whole process group.
    case cancelled
}

/// What a program run under a time limit left behind.
package struct LimitedProcessResult: Sendable {
    package var ending: ProcessEnding
    /// The last bytes it wrote, standard output and error together, in the order written.
    package var output: String
}

extension ProcessRunner {
    /// Runs a program for at most `timeout`, standard input from `/dev/null`, standard output and error together in
    /// an unlinked temporary file of which the last `outputLimit` bytes are kept. At the time limit, or when the
    /// calling task is cancelled, the program is killed (SIGKILL) with everything it started in its process group.
    /// Only the program itself is waited for: what it leaves running in the background when it exits is not.
    package static func run(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String]? = nil,
        timeout: Duration,
        keepingLast outputLimit: Int
    ) async throws(ProcessRunnerError) -> LimitedProcessResult {
        let output = try OutputFile(for: executable)
        defer { close(output.descriptor) }
        let pid = try spawn(
            executable, arguments, environment: environment ?? ProcessInfo.processInfo.environment,
            currentDirectory: nil, input: .nullDevice, output: output.descriptor, error: output.descriptor)
        let child = ReapedChild(pid: pid)
        let ending: ProcessEnding = await withTaskCancellationHandler {
            await withTaskGroup(of: ProcessEnding?.self) { group in
                group.addTask { await child.wait() }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return Task.isCancelled ? nil : .timedOut
                }
                var first: ProcessEnding = .cancelled
                while let next = await group.next() {
                    guard let next else { continue }
                    first = next
                    break
                }
                group.cancelAll()
                let stopped = first == .timedOut || first == .cancelled
                if stopped { child.killGroup() }
                // Reap it (a killed group ends at once).
                let final = await child.wait()
                return stopped ? first : final
            }
        } onCancel: {
            child.killGroup()
        }
        return LimitedProcessResult(
            ending: Task.isCancelled ? .cancelled : ending, output: output.tail(outputLimit))
    }

    /// A temporary file, unlinked as soon as it is open, that a child writes its output to.
    private struct OutputFile {
        let descriptor: Int32

        init(for executable: URL) throws(ProcessRunnerError) {
            let folder = FileManager.default.temporaryDirectory.path
            var template = Array("\(folder)/flotilla-output-XXXXXX".utf8CString)
            let descriptor = template.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress.map { mkstemp($0) } ?? -1
            }
            guard descriptor >= 0 else { throw ProcessRunner.failure(executable, "temporary file in \(folder)") }
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            template.withUnsafeBufferPointer { buffer in
                if let path = buffer.baseAddress { _ = unlink(path) }
            }
            self.descriptor = descriptor
        }

        /// The last `limit` bytes written.
        func tail(_ limit: Int) -> String {
            var information = stat()
            guard limit > 0, fstat(descriptor, &information) == 0 else { return "" }
            let size = Int(information.st_size)
            let start = max(0, size - limit)
            var bytes = [UInt8](repeating: 0, count: size - start)
            var done = 0
            while done < bytes.count {
                let count = bytes.withUnsafeMutableBytes { buffer in
                    pread(descriptor, buffer.baseAddress?.advanced(by: done), buffer.count - done, off_t(start + done))
                }
                if count > 0 {
                    done += count
                } else if count == 0 || errno != EINTR {
                    break
                }
            }
            return String(decoding: bytes[..<done], as: UTF8.self)
        }
    }

    /// A running child: reaped once, by a thread of its own; its group killed only while it is not yet reaped (after
    /// that its pid may belong to another process).
    private final class ReapedChild: @unchecked Sendable {
        let pid: pid_t
        private let lock = NSLock()
        private var reaped = false
        private var waiting = false
        private var ending: ProcessEnding?
        private var waiters: [CheckedContinuation<ProcessEnding, Never>] = []

        init(pid: pid_t) {
            self.pid = pid
        }

        /// Waits for the child to end (one thread blocks in waitpid for it).
        func wait() async -> ProcessEnding {
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
            let ended: ProcessEnding =
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
}
