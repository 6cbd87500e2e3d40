import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPlan
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
        printError("error: \(error)")
        throw ExitCode(1)
    }
}

/// SIGINT and SIGTERM while an operation runs: the first calls `cancel`, a second exits at once.
final class Interrupts: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var sources: [any DispatchSourceSignal] = []

    init(_ cancel: @escaping @Sendable () -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                lock.lock()
                count += 1
                let first = count == 1
                lock.unlock()
                if first {
                    FileHandle.standardError.write(
                        Data(
                            "\nstopping: cancelling running steps; they roll back (Ctrl-C again to quit at once)\n".utf8
                        ))
                    cancel()
                } else {
                    exit(130)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    var interrupted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return count > 0
    }

    func stop() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// Prints rollout progress line by line.
struct ProgressPrinter: Sendable {
    var verbose: Bool

    func callAsFunction(_ event: RolloutEvent) {
        defer { fflush(nil) }
        switch event {
        case .started(let rollout, let resumed):
            print("rollout \(rollout): \(resumed ? "resuming" : "started")")
        case .phaseStarted(let phase, let number, let total):
            print("phase \(number)/\(total) \(phase)")
        case .phaseSkipped(let phase, let reason):
            print("phase \(phase): \(reason)")
        case .waveStarted(let phase, let wave, let tenants, let shard):
            print(
                "  [\(phase)] wave \(wave)\(shard.map { " · shard \($0)" } ?? ""): \(tenants) tenant\(tenants == 1 ? "" : "s")…"
            )
        case .stepApplied(let phase, let tenant, let milliseconds, let already):
            if verbose {
                print("    [\(phase)] \(tenant): \(already ? "already applied" : "applied in \(milliseconds) ms")")
            }
        case .stepRetry(_, _, let attempt, let error):
            print("    retry after attempt \(attempt): \(error)")
        case .stepFailed(let error):
            print("    FAILED \(error)")
        case .waveFinished(let phase, let wave, let applied, let failed, let milliseconds):
            print("  [\(phase)] wave \(wave): \(applied) done, \(failed) failed in \(milliseconds) ms")
        case .quarantined(let phase, let tenants):
            print("  [\(phase)] quarantined within the failure budget: \(tenants.joined(separator: ", "))")
        case .baking(let phase, let wave, let duration):
            print("  [\(phase)] wave \(wave): baking \(duration.flotillaDescription)")
        case .checkFailed(let check, let message):
            print("  check \(check) FAILED: \(message)")
        case .awaitingApproval(let rollout, let phase):
            print("phase \(phase) waits for approval: flotilla approve \(rollout)")
        case .approved(let phase):
            print("phase \(phase) approved")
        case .reverting(let phase, let tenants, _):
            print("reverting phase \(phase) on \(tenants) tenant\(tenants == 1 ? "" : "s"), newest wave first")
        case .stepReverted(let phase, let tenant):
            if verbose { print("    [\(phase)] \(tenant): reverted") }
        case .following(let rollout):
            print("rollout \(rollout) is driven by another coordinator; working with it, and taking over if it stops")
        case .halting(let halt):
            print("HALT: \(halt.description) — stopping now")
        case .finished(let rollout, let state, let reason):
            print("rollout \(rollout): \(state)\(reason.map { " — \($0)" } ?? "")")
        }
    }
}
