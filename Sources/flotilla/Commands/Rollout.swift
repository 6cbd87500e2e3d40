import ArgumentParser
import FlotillaEngine
import FlotillaLint
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import Foundation
import Logging

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

        @Option(help: "Who starts it (default: $USER); recorded in the audit trail.")
        var by: String?

        @Option(
            help:
                "Progress: text (a live view on a terminal, plain lines otherwise) or json (one event per line, NDJSON; everything else to standard error)."
        )
        var output: OutputFormat = .text

        @Flag(help: .hidden)
        var noHaltListener = false

        @Flag(
            help:
                "Leave out the tenants that lack a change this one requires (journaled; `flotilla converge` brings them up) instead of refusing to start."
        )
        var skipLagging = false

        func run() async throws {
            let workspace = currentWorkspace()
            let (fleet, change, policy) = try loading { () throws(DefinitionError) in
                let fleet = try workspace.loadFleet(options.fleet)
                let change = try workspace.loadChange(options.change, fleet: fleet)
                return (fleet, change, try workspace.loadPolicy(options.policy))
            }
            // A fleet without tenant sources is planned (and its plan checked) before anything connects.
            let listedPlan = try loading { () throws(DefinitionError) in
                fleet.sources.isEmpty ? try RolloutPlan.make(fleet: fleet, change: change, policy: policy) : nil
            }
            let console = RolloutConsole(
                output: output, verbose: verbose,
                context: EventStream.Context(fleet: fleet.name, change: change.id, kind: "rollout"))
            if !yes, isatty(STDIN_FILENO) != 0 {
                let tenants =
                    fleet.sources.isEmpty
                    ? "\(fleet.tenants.count) tenants"
                    : "the tenants (\(fleet.tenants.count) listed, \(fleet.sources.count) source\(fleet.sources.count == 1 ? "" : "s"))"
                print(
                    "Roll out \(change.id) (\(change.phases.count) phases) to \(tenants) of fleet \(fleet.name) with policy \(policy.name)? [y/N] ",
                    terminator: "")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    print("not started")
                    throw ExitCode(1)
                }
            }
            let required = try loading { () throws(DefinitionError) in
                try workspace.requiredChanges(of: change, fleet: fleet)
            }
            let skipLagging = self.skipLagging
            let by = self.by
            let logger = makeLogger()
            let outcome = try await runtime {
                let session = try await Session.open(
                    fleet: fleet, control: nil, environment: workspace.environment, logger: logger)
                return try await session.withControlStore { store in
                    // A rollout that is resumed runs over the tenant set it started with (its snapshot): the tenant
                    // sources are not read again. A new one reads them now.
                    let unfinished = try await store.unfinishedRollout(fleet: fleet.name, change: change.id)
                    var current = fleet
                    var snapshot: [Tenant] = []
                    if let unfinished { snapshot = try await store.tenantSnapshot(unfinished.id) }
                    if !snapshot.isEmpty {
                        current.tenants = snapshot
                    } else {
                        current = try await resolveTenants(
                            fleet, environment: workspace.environment, embedded: session.embeddedURL, logger: logger
                        ).fleet
                    }
                    let plan = try loading { [current] () throws(DefinitionError) in
                        if snapshot.isEmpty, let listedPlan { return listedPlan }
                        return try RolloutPlan.make(fleet: current, change: change, policy: policy)
                    }
                    let deadlines = ConnectionDeadlines(connect: policy.connectTimeout)
                    return try await session.withFleet(current, deadlines: deadlines) { [current] connections in
                        try await connections.preflight()
                        // The risk gate, judged on the fleet's largest tenant: before any step.
                        try await refuseUnsafe(
                            change, thresholds: policy.risk, tenants: current.tenants, connections: connections,
                            logger: logger)
                        // A new rollout starts only on tenants that have every change it requires (a resumed one
                        // runs over the tenant set it started with).
                        var tenants: [Tenant]?
                        var runPlan = plan
                        var setAside: [LaggingTenant] = []
                        if !required.isEmpty, unfinished == nil {
                            let lagging = await FlotillaEngine.Census(connections: connections, logger: logger).lagging(
                                current.tenants, required: required)
                            if !lagging.isEmpty {
                                guard skipLagging else {
                                    reportLagging(lagging, change: change, fleet: fleet.name)
                                    throw ExitCode(2)
                                }
                                let out = Set(lagging.map(\.tenant))
                                let kept = current.tenants.filter { !out.contains($0.id) }
                                tenants = kept
                                runPlan = plan.narrowed(to: Set(kept.map(\.id)))
                                setAside = lagging
                                print(
                                    "leaving out \(lagging.count) tenant\(lagging.count == 1 ? "" : "s") that lack a required change (flotilla converge brings them up)"
                                )
                            }
                        }
                        let engine = RolloutEngine(store: store, connections: connections, logger: logger) {
                            console($0)
                        }
                        console.update { [current, runPlan] context in
                            context.shards = Dictionary(current.tenants.map { ($0.id, $0.shard) }) { a, _ in a }
                            let waves = runPlan.waves.flatMap { wave in wave.tenants.map { ($0, wave.name) } }
                            context.waves = Dictionary(waves) { a, _ in a }
                        }
                        let auditID = await recordAudit(
                            store, .rolloutStart, by: by, fleet: fleet.name, change: change.id, rollout: unfinished?.id,
                            detail: "policy \(policy.name)\(unfinished == nil ? "" : ", resumed")")
                        let outcome = try await console.showing(store) { [runPlan, tenants] in
                            try await engine.run(
                                change: change, policy: policy, plan: runPlan, tenants: tenants,
                                options: {
                                    var options = RolloutEngine.Options(waitForApproval: !noWait)
                                    // Without the listener, halts are still read at every step boundary and every second.
                                    options.listenForHalts = !noHaltListener
                                    return options
                                }())
                        }
                        if case .blocked = outcome { return outcome }
                        if let auditID { try? await store.linkAudit(auditID, rollout: outcome.rolloutID) }
                        try? await store.recordSetAside(outcome.rolloutID, tenants: setAside)
                        return outcome
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
    try refuseUnsafe(change, findings: ChangeLint.findings(change))
}

/// Stops when `findings` hold an unacknowledged high-risk statement.
func refuseUnsafe(_ change: Change, findings: [Finding]) throws {
    let blocking = ChangeLint.blocking(findings)
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

/// The risk gate judged on the live schema of the fleet's largest tenant (read-only): a statement the live schema
/// proves safe no longer blocks, one that is high only because of its table's size does. When the catalog cannot be
/// read, the static judgement decides, and says so.
func refuseUnsafe(
    _ change: Change, thresholds: RiskThresholds, tenants: [Tenant], connections: FleetConnections, logger: Logger
) async throws {
    let findings: [Finding]
    do {
        let outcome = try await LiveLint(connections: connections, logger: logger).judge(
            [change], tenants: tenants, choice: .largest, thresholds: thresholds)
        findings = outcome.findings
        let changed = findings.filter { $0.judged?.reason != nil }
        if !changed.isEmpty {
            let count = "\(changed.count) finding\(changed.count == 1 ? "" : "s")"
            printError("risk gate: \(outcome.note); \(count) judged differently on it")
        }
    } catch {
        if Task.isCancelled { throw error }
        printError(
            "warning: risk gate: the live schema could not be read (\(CatalogReader.describe(error))); judged without it"
        )
        findings = ChangeLint.findings(change)
    }
    try refuseUnsafe(change, findings: findings)
}

/// Why a rollout did not start: the tenants (the first 20, and how many more) that lack a change it requires.
func reportLagging(_ lagging: [LaggingTenant], change: Change, fleet: String) {
    printError(
        "error: not started: \(lagging.count) tenant\(lagging.count == 1 ? "" : "s") of fleet \(fleet) lack a change that \(change.id) requires:"
    )
    for tenant in lagging.prefix(20) {
        let why = tenant.unreachable ? "could not be read" : "lacks \(tenant.missing.joined(separator: ", "))"
        printError("  \(tenant.tenant) (shard \(tenant.shard)): \(why)")
    }
    if lagging.count > 20 { printError("  … and \(lagging.count - 20) more") }
    printError(
        "bring them up first with: flotilla converge --fleet \(fleet)   (or leave them out with --skip-lagging)")
}
