import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaServer
import Foundation
import Logging

/// The process-wide logger: to standard error, level from `FLOTILLA_LOG_LEVEL` (default `notice`).
func makeLogger() -> Logger {
    let level =
        ProcessInfo.processInfo.environment["FLOTILLA_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
    var logger = Logger(label: "flotilla") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = level
    return logger
}

/// Runs an operation that talks to databases: infrastructure failures print one clear line and exit 1.
///
/// Ctrl-C (SIGINT) or SIGTERM cancels the operation, which stops cleanly — a rollout cancels its running
/// statements (their transactions roll back), puts its interrupted steps back to pending and releases its lease —
/// and exits 130. A second Ctrl-C quits at once; the journal and the ledgers still hold.
func runtime<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    // Unstructured on purpose: a signal handler cancels it from outside the caller's task tree.
    let task = Task { try await body() }
    let interrupts = Interrupts { task.cancel() }
    defer { interrupts.stop() }
    do {
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        if interrupts.interrupted {
            printError("stopped: interrupted")
            throw ExitCode(130)
        }
        if error is CancellationError {
            printError("error: cancelled")
            throw ExitCode(1)
        }
        // Lines kept, control characters shown: an error may quote stored text.
        printError(
            "error: "
                + "\(error)".split(separator: "\n", omittingEmptySubsequences: false).map { terminalSafe(String($0)) }
                .joined(separator: "\n"))
        throw ExitCode(1)
    }
}

/// SIGINT and SIGTERM while an operation runs: the first calls `cancel`, a second exits at once.
///
/// A clean stop takes milliseconds: running statements are cancelled, steps go back to pending, the lease is
/// released. When it cannot finish within the stop grace (`FLOTILLA_STOP_GRACE` seconds, default 1) — a server
/// that stopped answering — the process exits 130 anyway: a tenant's open transaction rolls back when its session
/// closes, and a rerun on this host takes over the lease and claims of a process that is gone.
final class Interrupts: Sendable {
    private let watcher: Task<Void, Never>

    static var grace: Duration {
        let text = ProcessInfo.processInfo.environment["FLOTILLA_STOP_GRACE"] ?? ""
        guard let seconds = Double(text), seconds > 0 else { return .seconds(1) }
        return .milliseconds(Int(seconds * 1000))
    }

    init(_ cancel: @escaping @Sendable () -> Void) {
        StopSignals.install()
        let grace = Self.grace
        watcher = Task {
            await StopSignals.wait()
            guard !Task.isCancelled else { return }
            FileHandle.standardError.write(
                Data("\nstopping: what runs is cancelled and rolls back (Ctrl-C again to quit at once)\n".utf8))
            cancel()
            try? await Task.sleep(for: grace)
            guard !Task.isCancelled else { return }
            FileHandle.standardError.write(
                Data(
                    "stopped: not stopped cleanly within \(grace); quitting (open transactions roll back as their sessions close; a rerun continues)\n"
                        .utf8))
            _exit(130)
        }
    }

    var interrupted: Bool { StopSignals.count > 0 }

    func stop() {
        watcher.cancel()
        StopSignals.uninstall()
    }
}

/// SIGINT and SIGTERM: the first asks for a stop (polled by ``wait()``), a second quits at once (exit 130).
///
/// A plain signal handler that only sets a flag: it works whichever thread the signal lands on. (A Dispatch signal
/// source does not see a signal that is ignored, and on Linux it must be ignored for the source alone to get it.)
enum StopSignals {
    nonisolated(unsafe) static var count: sig_atomic_t = 0

    static func install() {
        for number in [SIGINT, SIGTERM] {
            var action = sigaction()
            #if canImport(Glibc)
                action.__sigaction_handler.sa_handler = { _ in
                    StopSignals.count += 1
                    if StopSignals.count > 1 { _exit(130) }
                }
            #else
                action.__sigaction_u.__sa_handler = { _ in
                    StopSignals.count += 1
                    if StopSignals.count > 1 { _exit(130) }
                }
            #endif
            sigemptyset(&action.sa_mask)
            sigaction(number, &action, nil)
        }
    }

    /// Back to the default: a Ctrl-C after the operation ends the process as usual.
    static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// Returns once a stop signal came (or the task is cancelled).
    static func wait() async {
        while StopSignals.count == 0 && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
