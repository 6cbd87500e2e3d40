import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import Foundation
import Logging

extension Flotilla {
    struct Converge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring lagging tenants (new, restored, once quarantined) up to the phases the fleet has.",
            discussion: """
                Reads every tenant's ledger (as census does), then, change by change in `requires` order, runs the \
                phases the fleet's rollout of it has finished everywhere (or, for a change the journal has no \
                rollout of, that at least half of the tenants with some history have), on the tenants that lack \
                them: each as a rollout of kind converge (journaled, resumable, haltable, under the policy's caps, \
                checks and failure budget). A drifted or unreachable tenant is never touched. \
                Exit 0 when every lagging tenant was brought up (or none lags), 3 when a converge rollout halted or \
                was reverted, or some tenant is drifted or unreachable, 2 on bad input.
                """)

        @Option(help: "Fleet: a name (fleets/NAME/fleet.yaml), its folder, or its fleet.yaml.")
        var fleet: String

        @Option(name: .customLong("tenant"), help: "Converge only this tenant (repeatable).")
        var tenants: [String] = []

        @Option(help: "Policy: a name (policies/NAME.yaml) or a path. Default: one wave, parallel 4, halt on failure.")
        var policy: String?

        @Flag(help: "Do not ask for confirmation.")
        var yes = false

        @Flag(help: "Print every tenant step.")
        var verbose = false

        @Option(help: "Who converges (default: $USER); recorded in the audit trail.")
        var by: String?

        @Option(
            help:
                "Progress: text (a live view on a terminal, plain lines otherwise) or json (one event per line, NDJSON; everything else to standard error)."
        )
        var output: OutputFormat = .text

        /// The policy a converge uses without `--policy`: every lagging tenant in one wave, a few at a time, and a
        /// failure stops it for a person to look (a rerun continues).
        static let defaultPolicy = """
            policy: converge
            waves:
              - {name: lagging, select: {remaining: true}}
            parallel: 4
            per_shard_parallel: 2
            lock_timeout: 2s
            retries: {attempts: 3, backoff: 200ms}
            failure_budget: {per_wave: 0, total: 0}
            on_failure: halt
            """

        func run() async throws {
            let workspace = currentWorkspace()
            let (fleet, changes, policy) = try loading { () throws(DefinitionError) in
                let fleet = try workspace.loadFleet(self.fleet)
                let changes = try workspace.loadChanges(of: fleet)
                let policy: Policy
                if let name = self.policy {
                    policy = try workspace.loadPolicy(name)
                } else {
                    policy = try Policy.parse(Self.defaultPolicy, file: "(the built-in converge policy)")
                }
                return (fleet, changes, policy)
            }
            let logger = makeLogger()
            let printer = RolloutConsole(
                output: output, verbose: verbose, context: EventStream.Context(fleet: fleet.name, kind: "converge"))
            let only = tenants.isEmpty ? nil : Set(tenants)
            let yes = self.yes
            let by = self.by
            let outcome: Int32 = try await runtime {
                let session = try await Session.open(
                    fleet: fleet, control: nil, environment: workspace.environment, logger: logger)
                let resolved = try await resolveTenants(
                    fleet, environment: workspace.environment, embedded: session.embeddedURL, logger: logger
                ).fleet
                if let only {
                    let known = Set(resolved.tenants.map(\.id))
                    let unknown = only.subtracting(known).sorted()
                    if !unknown.isEmpty {
                        printError("error: fleet \(fleet.name) has no tenant \(unknown.joined(separator: ", "))")
                        throw ExitCode(2)
                    }
                }
                let deadlines = ConnectionDeadlines(connect: policy.connectTimeout)
                return try await session.withControlStore { store in
                    try await session.withFleet(resolved, deadlines: deadlines) { connections in
                        try await Self.converge(
                            changes: changes, policy: policy, only: only, ask: !yes, store: store,
                            connections: connections, logger: logger, printer: printer, by: by)
                    }
                }
            }
            if outcome != 0 { throw ExitCode(outcome) }
        }

        /// Reads the census of `connections.fleet`, says what is lagging, and brings it up (one converge rollout per
        /// change). Returns the exit code: 0 all brought up (or nothing lags), 3 otherwise, 1 when not confirmed.
        static func converge(
            changes: [Change], policy: Policy, only: Set<String>?, ask: Bool, store: ControlStore,
            connections: FleetConnections, logger: Logger, printer: RolloutConsole, by: String? = nil
        ) async throws -> Int32 {
            let fleet = connections.fleet
            let report = await FlotillaEngine.Census(connections: connections, logger: logger).run(changes: changes)
            let finished = try await store.phasesFinished(fleet: fleet.name, changes: changes)
            let convergence = Convergence.make(report: report, changes: changes, only: only, finished: finished)
            describe(convergence)
            let leftAlone: Int32 = convergence.drifted.isEmpty && convergence.unreachable.isEmpty ? 0 : 3
            if convergence.isEmpty {
                print("no lagging tenant to bring up")
                return leftAlone
            }
            // Only the phases it would run are judged: an unacknowledged high-risk statement stops it before any runs.
            for step in convergence.steps { try refuseUnsafe(step.change) }
            if ask, isatty(STDIN_FILENO) != 0 {
                print("Converge? [y/N] ", terminator: "")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    print("not started")
                    return 1
                }
            }
            try await connections.preflight()
            let engine = RolloutEngine(store: store, connections: connections, logger: logger) { printer($0) }
            for step in convergence.steps {
                let ids = Set(step.tenants.map(\.id))
                let plan = try RolloutPlan.make(fleet: fleet, change: step.change, policy: policy).narrowed(to: ids)
                // The fleet passed these phases' gates already: their converge does not wait again.
                printer.update { context in
                    context.change = step.change.id
                    context.shards = Dictionary(step.tenants.map { ($0.id, $0.shard) }) { a, _ in a }
                    context.waves = Dictionary(plan.waves.flatMap { wave in wave.tenants.map { ($0, wave.name) } }) {
                        a, _ in a
                    }
                }
                let auditID = await recordAudit(
                    store, .converge, by: by, fleet: fleet.name, change: step.change.id,
                    detail: step.tenants.map(\.id).joined(separator: ", "))
                let outcome = try await printer.showing(store) {
                    try await engine.run(
                        change: step.change, policy: policy, plan: plan, kind: .converge, tenants: step.tenants,
                        approvedPhases: step.change.phases.map(\.name))
                }
                if let auditID, outcome.rolloutID != "-" {
                    try? await store.linkAudit(auditID, rollout: outcome.rolloutID)
                }
                if case .blocked(_, let halt) = outcome {
                    printError("error: not started: fleet \(fleet.name) is \(halt.description)")
                }
                guard case .done = outcome else { return outcome.exitCode == 0 ? 3 : outcome.exitCode }
            }
            print("converged: \(Set(convergence.steps.flatMap { $0.tenants.map(\.id) }).count) tenants brought up")
            return leftAlone
        }

        /// The same, with plain progress lines (`flotilla demo`).
        static func converge(
            changes: [Change], policy: Policy, only: Set<String>?, ask: Bool, store: ControlStore,
            connections: FleetConnections, logger: Logger, printer: ProgressPrinter
        ) async throws -> Int32 {
            try await converge(
                changes: changes, policy: policy, only: only, ask: ask, store: store, connections: connections,
                logger: logger, printer: RolloutConsole(plain: printer))
        }

        static func describe(_ convergence: Convergence) {
            for step in convergence.steps {
                let phases = step.change.phases.map(\.name).joined(separator: ", ")
                let names = step.tenants.prefix(10).map(\.id).joined(separator: ", ")
                let more = step.tenants.count > 10 ? " and \(step.tenants.count - 10) more" : ""
                print("\(step.change.id) (\(phases)): \(step.tenants.count) tenants: \(names)\(more)")
            }
            for standing in convergence.drifted {
                let drift = standing.drift.map { "\($0.phase)" }.joined(separator: ", ")
                print("left alone, drifted: \(standing.tenant.id) (\(drift))")
            }
            for standing in convergence.unreachable {
                print("left alone, unreachable: \(standing.tenant.id)")
            }
        }
    }
}
