import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import Foundation
import Logging

extension Flotilla {
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Start the embedded PostgreSQL, set up the demo fleet and roll a change across it in canary waves.",
            discussion: """
                Uses fleets/demo and policies/fast.yaml. Each run starts the demo fleet afresh. With --fail it rolls \
                0004_login_name with policies/canary.yaml instead, after planting duplicate users in the pilot \
                tenants: the logins-unique check fails in the second wave and the backfill is reverted \
                automatically (exit 0 when that is what happened).
                """)

        @Option(help: "Sample users per tenant.")
        var rows: Int = 200

        @Flag(help: "Show a canary that goes bad in its second wave and is reverted automatically.")
        var fail = false

        @Flag(help: "Print every tenant step.")
        var verbose = false

        @Option(
            help: ArgumentHelp(
                "Bake each wave this long (e.g. 20s) before the next: time to watch it in `flotilla serve` and halt it.",
                valueName: "duration"))
        var bake: String?

        func validate() throws {
            if let bake, parseDuration(bake) == nil {
                throw ValidationError("--bake takes a duration such as 20s or 1m, not '\(bake)'")
            }
        }

        /// Users the pilot tenants get twice with --fail (a legacy import that ran twice).
        static let duplicatedUsers = 20

        func run() async throws {
            let workspace = currentWorkspace()
            let fail = self.fail
            let (fleet, setup, change, loadedPolicy, setupPolicy) = try loading { () throws(DefinitionError) in
                let fleet = try workspace.loadFleet("demo")
                return (
                    fleet, try workspace.loadChange("0001_users", fleet: fleet),
                    try workspace.loadChange(fail ? "0004_login_name" : "0002_email_verified", fleet: fleet),
                    try workspace.loadPolicy(fail ? "canary" : "fast"), try workspace.loadPolicy("fast")
                )
            }
            var baked = loadedPolicy
            if let bake = self.bake.flatMap(parseDuration) {
                for index in baked.waves.indices { baked.waves[index].bake = bake }
            }
            let policy = baked
            let setupPlan = try loading { () throws(DefinitionError) in
                try RolloutPlan.make(fleet: fleet, change: setup, policy: setupPolicy)
            }
            let plan = try loading { () throws(DefinitionError) in
                try RolloutPlan.make(fleet: fleet, change: change, policy: policy)
            }
            let logger = makeLogger()
            let printer = ProgressPrinter(verbose: verbose)
            let rows = self.rows
            let (outcome, report) = try await runtime {
                print(
                    "starting the embedded PostgreSQL in \(Session.embeddedDirectory(environment: workspace.environment).path)…"
                )
                let session = try await Session.open(
                    fleet: fleet, control: nil, environment: workspace.environment, logger: logger)
                return try await session.withControlStore { store -> (RolloutOutcome, String?) in
                    print(
                        "setting up fleet \(fleet.name): \(fleet.tenants.count) tenants on \(fleet.shards.count) shards"
                    )
                    try await DemoFleet.reset(fleet, session: session, store: store)
                    let created = try await session.withFleet(fleet) { connections in
                        try await RolloutEngine(store: store, connections: connections, logger: logger)
                            .run(change: setup, policy: setupPolicy, plan: setupPlan)
                    }
                    guard case .done = created else { return (created, nil) }
                    try await DemoFleet.seed(fleet, session: session, rows: rows)
                    print("\(rows) sample users in each tenant")
                    if fail {
                        // The pilot tenants' first users imported twice: same address, two rows. Nothing stops that
                        // today; the unique sign-in name that 0004 introduces will.
                        var pilots = fleet
                        pilots.tenants = fleet.tenants.filter { $0.labels["tier"] == "pilot" }
                        try await DemoFleet.seed(pilots, session: session, rows: min(Self.duplicatedUsers, rows))
                        print(
                            "planted \(min(Self.duplicatedUsers, rows)) duplicate users in each of the \(pilots.tenants.count) pilot tenants (a legacy import that ran twice)"
                        )
                    }
                    print("")
                    print(PlanRenderer.text(plan, maxTenantsShown: 6))
                    print("")
                    let outcome = try await session.withFleet(fleet) { connections in
                        let engine = RolloutEngine(store: store, connections: connections, logger: logger) { event in
                            printer(event)
                            if case .awaitingApproval(let rollout, let phase) = event {
                                print(
                                    "  (the demo approves phase \(phase) itself, as `flotilla approve \(rollout)` would)"
                                )
                            }
                        }
                        return try await engine.run(
                            change: change, policy: policy, plan: plan,
                            options: RolloutEngine.Options(approveGates: true))
                    }
                    if !fail, case .done = outcome {
                        try await Self.livingFleet(
                            fleet, changes: [setup, change], session: session, store: store, logger: logger,
                            printer: printer)
                    }
                    guard fail, let record = try await store.rollout(id: outcome.rolloutID) else {
                        return (outcome, nil)
                    }
                    let steps = try await store.steps(record.id)
                    let checks = try await StatusReport.checks(record.id, store: store, recent: 3)
                    return (outcome, StatusReport.text(record, steps: steps, checks: checks))
                }
            }
            if let report { print("\n" + report) }
            print("\nsee it again with: swift run flotilla status \(outcome.rolloutID)")
            if fail {
                guard case .reverted = outcome else {
                    printError("error: the demo expected the canary to be reverted, but the rollout ended \(outcome)")
                    throw ExitCode(1)
                }
                print(
                    "the canary went bad in its second wave and was reverted automatically (flotilla rollout exits 3 here)"
                )
                return
            }
            if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
        }

        /// Two customers sign up (a row each in the demo's registry table, an empty schema each); the census shows
        /// them behind, converge brings them up, and the census after it is uniform.
        static func livingFleet(
            _ fleet: Fleet, changes: [Change], session: Session, store: ControlStore, logger: Logger,
            printer: ProgressPrinter
        ) async throws {
            print("\nTwo customers sign up: the application adds them to its tenant registry (public.demo_signups).")
            let signUps = [
                DemoFleet.SignUp(id: "newco", shard: "pg-a", schema: "tenant_newco"),
                DemoFleet.SignUp(id: "startup", shard: "pg-b", schema: "tenant_startup"),
            ]
            let living = try await DemoFleet.signUp(signUps, fleet: fleet, session: session)
            let resolved = try await resolveTenants(
                living, environment: session.environment, embedded: session.embeddedURL, logger: logger)
            print("tenant sources: \(resolved.summary)")
            let policy = try loading { () throws(DefinitionError) in
                try Policy.parse(Converge.defaultPolicy, file: "(the built-in converge policy)")
            }
            let code = try await session.withFleet(resolved.fleet) { connections in
                print("\n$ flotilla census --fleet \(fleet.name)")
                let before = await FlotillaEngine.Census(connections: connections, logger: logger).run(
                    changes: changes)
                print(CensusRenderer.text(before))
                print("\n$ flotilla converge --fleet \(fleet.name)")
                let code = try await Converge.converge(
                    changes: changes, policy: policy, only: nil, ask: false, store: store, connections: connections,
                    logger: logger, printer: printer)
                print("\n$ flotilla census --fleet \(fleet.name)")
                let after = await FlotillaEngine.Census(connections: connections, logger: logger).run(
                    changes: changes)
                print(CensusRenderer.text(after))
                return after.isUniform ? code : 3
            }
            guard code == 0 else {
                printError("error: the new tenants were not brought up to the fleet (exit \(code))")
                throw ExitCode(code)
            }
        }
    }
}
