import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPostgres
import Foundation

extension Flotilla {
    struct Revert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revert a rollout by hand, phase by phase in reverse order.",
            discussion: """
                Each phase the rollout applied is reverted on the tenants that got it, newest wave first, with the \
                policy's caps, each tenant in its own transaction: the phase's `down` (or the backfill's `revert`), \
                and `reverted_at` in its ledger. The fleet, change and policy are the rollout's, read from the \
                current folder. Refuses, touching nothing, when a phase to revert is not reversible, when the \
                change's definition differs from the one rolled out, or while the fleet is halted. \
                Exit 0 when reverted (or nothing to revert), 3 when refused, 2 when the rollout or its definitions \
                cannot be found.
                """)

        @Argument(help: "The rollout id.")
        var rollout: String

        @Option(help: "Revert back to before this phase: this phase and every later one (default: every phase).")
        var phase: String?

        @OptionGroup var control: ControlOptions

        @Flag(help: "Revert even while the fleet is halted.")
        var ignoreHalt = false

        @Flag(help: "Do not ask for confirmation.")
        var yes = false

        @Flag(help: "Print every tenant reverted.")
        var verbose = false

        @Option(help: "Who reverts (default: $USER); recorded in the audit trail.")
        var by: String?

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        @Option(
            help:
                "Progress: text (a live view on a terminal, plain lines otherwise) or json (one event per line, NDJSON; everything else to standard error)."
        )
        var output: OutputFormat = .text

        func run() async throws {
            let workspace = currentWorkspace()
            let rollout = self.rollout
            let record = try await runtime {
                try await control.session().withControlStore { store in try await store.rollout(id: rollout) }
            }
            guard let record else {
                printError("error: no rollout \(rollout)")
                throw ExitCode(2)
            }
            let fleetName = control.fleet ?? record.fleet
            let (fleet, change, policy) = try loading { () throws(DefinitionError) in
                let fleet = try workspace.loadFleet(fleetName)
                return (
                    fleet, try workspace.loadChange(record.change, fleet: fleet),
                    try workspace.loadPolicy(record.policy)
                )
            }
            if !yes, isatty(STDIN_FILENO) != 0 {
                let which = phase.map { "phase \($0) and the phases after it" } ?? "every phase it applied"
                print(
                    "Revert \(which) of rollout \(rollout) (\(change.id) on fleet \(fleet.name))? [y/N] ",
                    terminator: "")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    print("nothing reverted")
                    throw ExitCode(1)
                }
            }
            let logger = makeLogger()
            let (phase, ignoreHalt, format, output) = (self.phase, self.ignoreHalt, self.format, self.output)
            let by = self.by
            let printer = RolloutConsole(
                output: output, verbose: verbose,
                context: EventStream.Context(fleet: fleet.name, change: change.id, rollout: rollout, kind: "revert"),
                live: format == .text)
            let outcome = try await runtime {
                let session = try await Session.open(
                    fleet: fleet, control: control.control, environment: workspace.environment, logger: logger)
                return try await session.withControlStore { store in
                    try await session.withFleet(fleet, deadlines: ConnectionDeadlines(connect: policy.connectTimeout)) {
                        connections in
                        try await connections.preflight()
                        let engine = RolloutEngine(store: store, connections: connections, logger: logger) { event in
                            if format == .text || output == .json { printer(event) }
                        }
                        await recordAudit(
                            store, .revert, by: by, fleet: fleet.name, change: change.id, rollout: rollout,
                            detail: phase.map { "phase \($0) and the phases after it" } ?? "every phase")
                        // The stream names each tenant's wave and shard: a revert's are in the journal.
                        await printer.learnSteps(of: rollout, store: store)
                        // Its webhooks hear the revert's end (reverted, or halted when it stops).
                        let (notified, notifier) = engine.notifying(rolloutID: rollout, change: change, policy: policy)
                        return try await notifier.flushing {
                            try await printer.showing(store) {
                                try await notified.revert(
                                    rollout: rollout, change: change, policy: policy, phase: phase,
                                    ignoreHalts: ignoreHalt)
                            }
                        }
                    }
                }
            }
            switch outcome {
            case .reverted(let report):
                if format == .json {
                    print(try StatusReport.json(report))
                } else {
                    for phase in report.phases {
                        let waves = phase.waves.map { "\($0.wave) \($0.tenants.count)" }.joined(separator: ", ")
                        print("reverted phase \(phase.phase) on \(phase.tenantCount) tenants (\(waves))")
                    }
                }
            case .nothingToRevert(let id):
                if format == .json {
                    print(try StatusReport.json(["rollout": id, "reverted": "nothing"]))
                } else {
                    print("rollout \(id): nothing to revert; no tenant has those phases from it")
                }
            case .refused(let id, let reason):
                if format == .json { print(try StatusReport.json(["rollout": id, "refused": reason])) }
                printError("error: not reverting rollout \(id): \(reason)")
            }
            if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
        }
    }
}
