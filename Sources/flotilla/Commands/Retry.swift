import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPostgres
import Foundation

extension Flotilla {
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the quarantined or failed tenants of a finished or halted rollout again.",
            discussion: """
                After the cause is fixed: the tenants a rollout quarantined (or that failed in it) run again through \
                the same engine, as a rollout of kind `retry` whose parent is that rollout — phase by phase up to the \
                last phase the rollout applied, each tenant from where it stopped (a phase its ledger already holds \
                is recorded, not run again), in the waves the policy gives them, under the rollout's policy unless \
                --policy names another, with its approved gates. The fleet and change are the rollout's, read from \
                the current folder. Exit 0 when done (or nothing to retry), 3 when halted or reverted, 2 when the \
                rollout, its definitions or a --tenant cannot be found (nothing touched).
                """)

        @Argument(help: "The rollout id whose quarantined or failed tenants to run again.")
        var rollout: String

        @Option(name: .customLong("tenant"), help: "Only this tenant (repeatable); it must be quarantined or failed.")
        var tenants: [String] = []

        @Option(help: "Policy: a name (policies/NAME.yaml) or a path (default: the rollout's).")
        var policy: String?

        @OptionGroup var control: ControlOptions

        @Flag(help: "Do not ask for confirmation.")
        var yes = false

        @Flag(help: "Stop at an approval gate instead of waiting for `flotilla approve`.")
        var noWait = false

        @Flag(help: "Print every tenant step.")
        var verbose = false

        @Option(help: "Who runs it (default: $USER); recorded in the audit trail.")
        var by: String?

        /// What the run came to, before or after the engine ran.
        enum Result: Sendable {
            case refused(RetryError)
            case nothing(parent: String)
            case declined
            case ran(RolloutOutcome)
        }

        func run() async throws {
            let workspace = currentWorkspace()
            let rollout = self.rollout
            let record = try await runtime {
                try await control.session().withControlStore { store in try await store.rollout(id: rollout) }
            }
            guard let record else {
                printError("error: \(RetryError.noSuchRollout(rollout))")
                throw ExitCode(2)
            }
            let fleetName = control.fleet ?? record.fleet
            let policyName = self.policy ?? record.policy
            let (fleet, change, policy) = try loading { () throws(DefinitionError) in
                let fleet = try workspace.loadFleet(fleetName)
                return (
                    fleet, try workspace.loadChange(record.change, fleet: fleet), try workspace.loadPolicy(policyName)
                )
            }
            try refuseUnsafe(change)
            let logger = makeLogger()
            let printer = ProgressPrinter(verbose: verbose)
            let (only, yes, noWait) = (tenants, self.yes, self.noWait)
            let by = self.by
            let result = try await runtime { () -> Result in
                let session = try await Session.open(
                    fleet: fleet, control: control.control, environment: workspace.environment, logger: logger)
                return try await session.withControlStore { store in
                    try await session.withFleet(fleet, deadlines: ConnectionDeadlines(connect: policy.connectTimeout)) {
                        connections in
                        let engine = RolloutEngine(store: store, connections: connections, logger: logger) {
                            printer($0)
                        }
                        // Read before anything is touched: a wrong --tenant or rollout is refused here.
                        let scope: RetryScope
                        do {
                            scope = try await engine.retryScope(of: rollout, change: change, only: only)
                        } catch let error as RetryError {
                            return .refused(error)
                        }
                        if scope.resuming == nil, scope.tenants.isEmpty || scope.change.phases.isEmpty {
                            return .nothing(parent: rollout)
                        }
                        if !yes, isatty(STDIN_FILENO) != 0 {
                            let what =
                                scope.resuming.map { "Resume retry \($0) of rollout \(rollout)" }
                                ?? "Run \(scope.tenants.count) quarantined or failed tenant(s) of rollout \(rollout) again (\(change.id), phases \(scope.change.phases.map(\.name).joined(separator: ", ")))"
                            print("\(what) with policy \(policy.name)? [y/N] ", terminator: "")
                            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                                return .declined
                            }
                        }
                        try await connections.preflight()
                        let auditID = await recordAudit(
                            store, .retry, by: by, fleet: fleet.name, change: change.id, rollout: scope.resuming,
                            detail: "rollout \(rollout): \(scope.tenants.map(\.id).joined(separator: ", "))")
                        guard
                            let outcome = try await engine.retry(
                                scope, policy: policy, options: RolloutEngine.Options(waitForApproval: !noWait))
                        else { return .nothing(parent: rollout) }
                        if let auditID { try? await store.linkAudit(auditID, rollout: outcome.rolloutID) }
                        return .ran(outcome)
                    }
                }
            }
            switch result {
            case .refused(let error):
                printError("error: \(error)")
                throw ExitCode(2)
            case .nothing(let parent):
                print("rollout \(parent): no quarantined or failed tenant to retry")
            case .declined:
                print("not started")
                throw ExitCode(1)
            case .ran(let outcome):
                if case .blocked(_, let halt) = outcome {
                    printError("error: not started: fleet \(fleet.name) is \(halt.description)")
                    printError("lift it with: flotilla resume \(halt.fleet.map { "--fleet \($0)" } ?? "--all")")
                }
                if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
            }
        }
    }
}
