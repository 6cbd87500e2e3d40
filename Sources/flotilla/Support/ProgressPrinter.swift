import FlotillaEngine
import FlotillaServer
import Foundation

/// Prints rollout progress line by line: what a command shows when its standard output is not a terminal, and the
/// lines the live view keeps above its bars.
struct ProgressPrinter: Sendable {
    var verbose: Bool

    func callAsFunction(_ event: RolloutEvent) {
        guard let line = line(for: event) else { return }
        print(line)
        fflush(nil)
    }

    /// The line of an event, if it has one; names, reasons and errors come from the journal and definitions, so
    /// control characters in them are shown, never sent to the terminal.
    func line(for event: RolloutEvent) -> String? {
        text(for: event).map(terminalSafe)
    }

    private func text(for event: RolloutEvent) -> String? {
        switch event {
        case .started(let rollout, let resumed):
            return "rollout \(rollout): \(resumed ? "resuming" : "started")"
        case .phaseStarted(let phase, let number, let total):
            return "phase \(number)/\(total) \(phase)"
        case .phaseSkipped(let phase, let reason):
            return "phase \(phase): \(reason)"
        case .waveStarted(let phase, let wave, let tenants, let shard):
            return
                "  [\(phase)] wave \(wave)\(shard.map { " · shard \($0)" } ?? ""): \(tenants) tenant\(tenants == 1 ? "" : "s")…"
        case .stepApplied(let phase, let tenant, let milliseconds, let already):
            guard verbose else { return nil }
            return "    [\(phase)] \(tenant): \(already ? "already applied" : "applied in \(milliseconds) ms")"
        case .stepRetry(_, _, let attempt, let error):
            return "    retry after attempt \(attempt): \(error)"
        case .stepFailed(let error):
            return "    FAILED \(error)"
        case .waveFinished(let phase, let wave, let applied, let failed, let milliseconds):
            return "  [\(phase)] wave \(wave): \(applied) done, \(failed) failed in \(milliseconds) ms"
        case .quarantined(let phase, let tenants):
            return "  [\(phase)] quarantined within the failure budget: \(tenants.joined(separator: ", "))"
        case .baking(let phase, let wave, let duration):
            return "  [\(phase)] wave \(wave): baking \(duration.flotillaDescription)"
        case .checkFailed(let check, let message):
            return "  check \(check) FAILED: \(message)"
        case .checkMeasured(_, let phase, let wave, let measurement):
            guard verbose else { return nil }
            return "    [\(phase)/\(wave)] check \(measurement.check): \(measurement.summary)"
        case .checkVerdict(_, let phase, let wave, let check, let verdict, let reason):
            guard verbose else { return nil }
            return "  [\(phase)] wave \(wave): check \(check) \(verdict)\(reason.map { ": \($0)" } ?? "")"
        case .awaitingApproval(let rollout, let phase):
            return "phase \(phase) waits for approval: flotilla approve \(rollout)"
        case .approved(let phase):
            return "phase \(phase) approved"
        case .reverting(let phase, let tenants, _):
            return "reverting phase \(phase) on \(tenants) tenant\(tenants == 1 ? "" : "s"), newest wave first"
        case .stepReverted(let phase, let tenant):
            return verbose ? "    [\(phase)] \(tenant): reverted" : nil
        case .following(let rollout):
            return "rollout \(rollout) is driven by another coordinator; working with it, and taking over if it stops"
        case .throttled(let cause):
            return "  \(cause.description): no new steps start there"
        case .throttleCleared(let shard, let after):
            return "  shard \(shard) clear again (was \(after.condition))"
        case .stepDeferred(let phase, let tenant, let reason):
            return verbose ? "    [\(phase)] \(tenant): deferred to the end of the wave: \(reason)" : nil
        case .halting(let halt):
            return "HALT: \(halt.description) — stopping now"
        case .finished(let rollout, let state, let reason):
            return "rollout \(rollout): \(state.rawValue)\(reason.map { " — \($0)" } ?? "")"
        }
    }
}
