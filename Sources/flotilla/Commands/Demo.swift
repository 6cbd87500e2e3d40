import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import Foundation

extension Flotilla {
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the embedded PostgreSQL, set up the demo fleet and roll a change across it in canary waves.",
            discussion: "Uses fleets/demo and policies/fast.yaml. Each run starts the demo fleet afresh.")

        @Option(help: "Sample users per tenant.")
        var rows: Int = 200

        @Flag(help: "Print every tenant step.")
        var verbose = false

        func run() async throws {
            let workspace = currentWorkspace()
            let (fleet, setup, change, policy) = try loading { () throws(DefinitionError) in
                let fleet = try workspace.loadFleet("demo")
                return (
                    fleet, try workspace.loadChange("0001_users", fleet: fleet),
                    try workspace.loadChange("0002_email_verified", fleet: fleet), try workspace.loadPolicy("fast")
                )
            }
            let setupPlan = try loading { () throws(DefinitionError) in try RolloutPlan.make(fleet: fleet, change: setup, policy: policy) }
            let plan = try loading { () throws(DefinitionError) in try RolloutPlan.make(fleet: fleet, change: change, policy: policy) }
            let logger = makeLogger()
            let printer = ProgressPrinter(verbose: verbose)
            let rows = self.rows
            let outcome = try await runtime {
                print("starting the embedded PostgreSQL in \(Session.embeddedDirectory(environment: workspace.environment).path)…")
                let session = try await Session.open(fleet: fleet, control: nil, environment: workspace.environment, logger: logger)
                return try await session.withControlStore { store -> RolloutOutcome in
                    print("setting up fleet \(fleet.name): \(fleet.tenants.count) tenants on \(fleet.shards.count) shards")
                    try await DemoFleet.reset(fleet, session: session, store: store)
                    let created = try await session.withFleet(fleet) { connections in
                        try await RolloutEngine(store: store, connections: connections, logger: logger)
                            .run(change: setup, policy: policy, plan: setupPlan)
                    }
                    guard case .done = created else { return created }
                    try await DemoFleet.seed(fleet, session: session, rows: rows)
                    print("\(rows) sample users in each tenant\n")
                    print(PlanRenderer.text(plan, maxTenantsShown: 6))
                    print("")
                    return try await session.withFleet(fleet) { connections in
                        let engine = RolloutEngine(store: store, connections: connections, logger: logger) { event in
                            printer(event)
                            if case .awaitingApproval(let rollout, let phase) = event {
                                print("  (the demo approves phase \(phase) itself, as `flotilla approve \(rollout)` would)")
                            }
                        }
                        return try await engine.run(
                            change: change, policy: policy, plan: plan, options: RolloutEngine.Options(approveGates: true))
                    }
                }
            }
            print("\nsee it again with: swift run flotilla status \(outcome.rolloutID)")
            if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
        }
    }
}
