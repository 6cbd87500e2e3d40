import ArgumentParser
import FlotillaEngine
import FlotillaModel
import Foundation

extension Flotilla {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show where rollouts stand, per phase and wave.")

        @Argument(help: "A rollout id; without it, the recent rollouts.")
        var rollout: String?

        @OptionGroup var control: ControlOptions

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        func run() async throws {
            let session = try await control.session()
            let rollout = self.rollout
            let format = self.format
            let text = try await runtime {
                try await session.withControlStore { store -> String? in
                    guard let rollout else {
                        let records = try await store.rollouts()
                        let halts = try await store.activeHalts()
                        if format == .json { return try StatusReport.json(StatusReport.Overview(halts: halts, rollouts: records)) }
                        let haltLines = halts.map { "HALT \($0.description)" }
                        if records.isEmpty { return (haltLines + ["no rollouts yet"]).joined(separator: "\n") }
                        return (haltLines + records.map { "\($0.id)  \($0.state.padding(toLength: 18, withPad: " ", startingAt: 0)) \($0.fleet)/\($0.change)  phase \($0.currentPhase ?? "-")" }
                            ).joined(separator: "\n")
                    }
                    guard let record = try await store.rollout(id: rollout) else { return nil }
                    let steps = try await store.steps(rollout)
                    let events = try await store.events(rollout)
                    if format == .json {
                        return try StatusReport.json(StatusReport.Document(rollout: record, steps: steps, events: events))
                    }
                    return StatusReport.text(record, steps: steps)
                }
            }
            guard let text else {
                printError("error: no rollout \(rollout ?? "")")
                throw ExitCode(2)
            }
            print(text)
        }
    }
}

enum StatusReport {
    struct Overview: Encodable {
        var halts: [HaltRecord]
        var rollouts: [ControlStore.RolloutRecord]
    }

    struct Document: Encodable {
        var rollout: ControlStore.RolloutRecord
        var steps: [ControlStore.StepRecord]
        var events: [ControlStore.EventRecord]
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func text(_ record: ControlStore.RolloutRecord, steps: [ControlStore.StepRecord]) -> String {
        var lines = ["rollout \(record.id): \(record.state) — change \(record.change) on fleet \(record.fleet), policy \(record.policy)"]
        if let reason = record.reason { lines.append("  reason: \(reason)") }
        var phases: [String] = []
        for step in steps where !phases.contains(step.phase) { phases.append(step.phase) }
        for phase in phases {
            lines.append("  phase \(phase)")
            var waves: [String] = []
            for step in steps where step.phase == phase && !waves.contains(step.wave) { waves.append(step.wave) }
            for wave in waves {
                let members = steps.filter { $0.phase == phase && $0.wave == wave }
                var counts: [String: Int] = [:]
                for step in members { counts[step.state, default: 0] += 1 }
                let summary = ["applied", "running", "failed", "quarantined", "reverted", "pending"].compactMap { state in
                    counts[state].map { "\($0) \(state == "applied" ? "done" : state)" }
                }.joined(separator: ", ")
                lines.append("    wave \(wave): \(summary)")
                for step in members where ["failed", "quarantined"].contains(step.state) {
                    lines.append("      \(step.tenant) (shard \(step.shard)): \(step.state): \(step.sqlState.map { "SQLSTATE \($0): " } ?? "")\(step.error ?? "")")
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}
