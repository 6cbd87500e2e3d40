import ArgumentParser
import FlotillaEngine
import FlotillaModel

/// Finds the control store: `--fleet`, then `--control`, then `FLOTILLA_CONTROL_URL`, else the embedded one.
struct ControlOptions: ParsableArguments {
    @Option(help: "Fleet whose control store to use (name, folder or fleet.yaml).")
    var fleet: String?

    @Option(help: "Control store URL (postgres://…).")
    var control: String?

    func session() async throws -> Session {
        let workspace = currentWorkspace()
        let fleet = try self.fleet.map { name in
            try loading { () throws(DefinitionError) in try workspace.loadFleet(name) }
        }
        return try await runtime {
            try await Session.open(
                fleet: fleet, control: control, environment: workspace.environment, logger: makeLogger())
        }
    }
}

extension Flotilla {
    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a rollout's gated phase so it can go on.")

        @Argument(help: "The rollout id.")
        var rollout: String

        @Option(help: "The phase to approve, or PHASE@WAVE for a paused bake (default: where the rollout waits).")
        var phase: String?

        @Option(help: "Who approves (default: $USER); recorded in the audit trail.")
        var by: String?

        @OptionGroup var control: ControlOptions

        func run() async throws {
            let session = try await control.session()
            let rollout = self.rollout
            let phase = self.phase
            let by = self.by
            let message = try await runtime {
                try await session.withControlStore { store -> String in
                    guard let record = try await store.rollout(id: rollout) else { return "no rollout \(rollout)" }
                    // A bake paused on inconclusive health waits for its gate PHASE@WAVE; a gated phase for PHASE.
                    var waitingAt = record.currentPhase
                    if record.state == .paused, let phase = record.currentPhase, let wave = record.currentWave {
                        waitingAt = "\(phase)@\(wave)"
                    }
                    guard let target = phase ?? waitingAt else {
                        return "rollout \(rollout) has no current phase; say --phase"
                    }
                    _ = try await store.approve(rollout, phase: target)
                    await recordAudit(
                        store, .approve, by: by, fleet: record.fleet, change: record.change, rollout: rollout,
                        detail: "phase \(target)")
                    return "approved phase \(target) of rollout \(rollout)"
                }
            }
            print(message)
            if message.hasPrefix("no rollout") || message.contains("say --phase") { throw ExitCode(2) }
        }
    }
}
