import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import Foundation

extension Flotilla {
    struct Rollout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a change across a fleet in waves, or resume its unfinished rollout.",
            discussion:
                "Exit 0 when done, 3 when halted or reverted, 2 when the definitions are invalid (nothing touched).")

        @OptionGroup var options: RolloutOptions

        @Flag(help: "Do not ask for confirmation.")
        var yes = false

        @Flag(help: "Stop at an approval gate instead of waiting for `flotilla approve`.")
        var noWait = false

        @Flag(help: "Print every tenant step.")
        var verbose = false

        @Flag(help: .hidden)
        var noHaltListener = false

        func run() async throws {
            let workspace = currentWorkspace()
            let (fleet, change, policy, plan) = try await options.load(workspace)
            try refuseUnsafe(change)
            if !yes, isatty(STDIN_FILENO) != 0 {
                print(
                    "Roll out \(change.id) (\(change.phases.count) phases) to \(fleet.tenants.count) tenants of fleet \(fleet.name) in \(plan.waves.count) waves with policy \(policy.name)? [y/N] ",
                    terminator: "")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    print("not started")
                    throw ExitCode(1)
                }
            }
            let logger = makeLogger()
            let printer = ProgressPrinter(verbose: verbose)
            let outcome = try await runtime {
                let session = try await Session.open(
                    fleet: fleet, control: nil, environment: workspace.environment, logger: logger)
                return try await session.withControlStore { store in
                    try await session.withFleet(fleet, deadlines: ConnectionDeadlines(connect: policy.connectTimeout)) {
                        connections in
                        try await connections.preflight()
                        let engine = RolloutEngine(store: store, connections: connections, logger: logger) {
                            printer($0)
                        }
                        return try await engine.run(
                            change: change, policy: policy, plan: plan,
                            options: {
                                var options = RolloutEngine.Options(waitForApproval: !noWait)
                                // Without the listener, halts are still read at every step boundary and every second.
                                options.listenForHalts = !noHaltListener
                                return options
                            }())
                    }
                }
            }
            if case .blocked(_, let halt) = outcome {
                printError("error: not started: fleet \(fleet.name) is \(halt.description)")
                printError("lift it with: flotilla resume \(halt.fleet.map { "--fleet \($0)" } ?? "--all")")
            }
            if case .alreadyDone(let id) = outcome {
                print("rollout \(id) of \(change.id) is already done; nothing to do")
            }
            if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
        }
    }
}

/// Stops before any database is touched when a phase holds an unacknowledged high-risk statement.
func refuseUnsafe(_ change: Change) throws {
    let blocking = ChangeLint.blocking(ChangeLint.findings(change))
    guard !blocking.isEmpty else { return }
    for finding in blocking {
        printError(
            "\(finding.file):\(finding.line):\(finding.column): error: [\(finding.rule)] \(finding.risk.rawValue) risk in phase \(finding.phase ?? "?"): \(finding.message)"
        )
    }
    printError(
        "refusing to roll out \(change.id): \(blocking.count) unacknowledged high-risk statement\(blocking.count == 1 ? "" : "s"). Use the safe rewrite, or acknowledge with `-- flotilla:ignore RULE reason` on the statement or `ignore: [{rule: RULE, reason: …}]` on the phase."
    )
    throw ExitCode(2)
}
