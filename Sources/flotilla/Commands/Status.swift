import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaServer
import Foundation

extension Flotilla {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show where rollouts stand, per phase and wave.")

        @Argument(help: "A rollout id; without it, the recent rollouts.")
        var rollout: String?

        @OptionGroup var control: ControlOptions

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        @Flag(help: "Refresh until the rollout ends (or Ctrl-C); without a rollout id, until Ctrl-C.")
        var watch = false

        @Option(help: "Seconds between refreshes with --watch.")
        var interval: Double = 1

        @Option(
            help:
                "With --watch and a rollout id: text (a live view on a terminal) or json (the rollout's events as the journal shows them, NDJSON)."
        )
        var output: OutputFormat = .text

        func run() async throws {
            let session = try await control.session()
            let rollout = self.rollout
            let format = self.format
            let watch = self.watch
            let interval = Duration.milliseconds(Int(max(0.2, interval) * 1000))
            let clear = watch && format == .text && isatty(STDOUT_FILENO) == 1
            if watch, let rollout {
                let environment = ProcessInfo.processInfo.environment
                let live = format == .text && output == .text && clear && environment["TERM"] != "dumb"
                if output == .json || live {
                    let (output, color) = (self.output, (environment["NO_COLOR"] ?? "").isEmpty)
                    let found = try await runtime {
                        try await session.withControlStore { store in
                            output == .json
                                ? try await StatusWatch.stream(rollout, store: store, interval: interval)
                                : try await StatusWatch.live(rollout, store: store, interval: interval, color: color)
                        }
                    }
                    guard found else {
                        printError("error: no rollout \(rollout)")
                        throw ExitCode(2)
                    }
                    return
                }
            }
            let currentTenants = CurrentTenants(session: session, fleet: control.fleet)
            let found = try await runtime {
                try await session.withControlStore { store -> Bool in
                    while true {
                        guard
                            let (text, finished) = try await Self.render(
                                rollout, format: format, store: store,
                                currentTenants: { await currentTenants.ids(fleet: $0) })
                        else { return false }
                        if clear { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                        print(text)
                        if !watch || finished { return true }
                        if clear { print("\n(every \(interval); Ctrl-C to stop)") }
                        fflush(nil)
                        try await Task.sleep(for: interval)
                    }
                }
            }
            guard found else {
                printError("error: no rollout \(rollout ?? "")")
                throw ExitCode(2)
            }
        }

        /// The report, and whether the rollout has ended (nil: no such rollout). `currentTenants` gives a fleet's
        /// tenant ids now, when its definitions are at hand.
        static func render(
            _ rollout: String?, format: OutputFormat, store: ControlStore,
            currentTenants: @escaping @Sendable (_ fleet: String) async -> [String]? = { _ in nil }
        ) async throws -> (String, Bool)? {
            guard let rollout else {
                let records = try await store.rollouts()
                let halts = try await store.activeHalts()
                if format == .json {
                    return (try StatusReport.json(StatusReport.Overview(halts: halts, rollouts: records)), false)
                }
                let haltLines = halts.map { "HALT \($0.description)" }
                if records.isEmpty { return (StatusReport.terminal(haltLines + ["no rollouts yet"]), false) }
                let lines = records.map {
                    "\($0.id)  \($0.kind.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))\($0.state.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)) \($0.fleet)/\($0.change)  phase \($0.currentPhase ?? "-")"
                }
                return (StatusReport.terminal(haltLines + lines), false)
            }
            if format == .json {
                guard let document = try await Reports.document(rollout, store: store, currentTenants: currentTenants)
                else { return nil }
                return (try StatusReport.json(document), document.rollout.state.isFinished)
            }
            guard let record = try await store.rollout(id: rollout) else { return nil }
            let finished = record.state.isFinished
            let steps = try await store.steps(rollout)
            let checks = try await StatusReport.checks(rollout, store: store)
            let tenants = try await Reports.tenantSet(
                rollout, store: store, current: await currentTenants(record.fleet))
            let throttled = finished ? [] : try await store.throttledShards(rollout)
            let audit = try await store.auditEntries(rollout: rollout)
            return (
                StatusReport.text(record, steps: steps, checks: checks, tenants: tenants, throttled: throttled)
                    + StatusReport.auditText(audit),
                finished
            )
        }
    }
}

/// `flotilla status`: the JSON documents are the HTTP API's (`Reports`), the text is this command's. The text shows
/// control characters of stored text as `\xHH` (`terminalSafe`); the JSON keeps them, escaped by the encoder.
enum StatusReport {
    typealias Overview = Reports.Overview
    typealias Document = Reports.Document
    typealias CheckSection = Reports.CheckSection

    static func checks(_ rollout: String, store: ControlStore, recent: Int = 5) async throws -> [CheckSection] {
        try await Reports.checks(rollout, store: store, recent: recent)
    }

    /// The checks' part of a report: per check, its verdict in each phase and wave, then its newest measurements.
    static func checkLines(_ checks: [CheckSection]) -> [String] {
        guard !checks.isEmpty else { return [] }
        var lines = ["  checks"]
        for check in checks {
            let counts = ["pass", "fail", "error", "inconclusive"].map { "\(check.counts[$0] ?? 0) \($0)" }
            lines.append("    \(check.name) (\(check.kind), scope \(check.scope)): \(counts.joined(separator: ", "))")
            for verdict in check.verdicts {
                let reason = verdict.verdict == "passed" ? "" : verdict.reason.map { ": \($0)" } ?? ""
                lines.append("      \(verdict.phase)/\(verdict.wave): \(verdict.verdict)\(reason)")
            }
            for record in check.recent {
                lines.append("      · [\(record.phase)/\(record.wave)] \(record.measurement.summary)")
                if record.measurement.cohort == "compared" {
                    let changed = record.measurement.value ?? "-"
                    lines.append("          changed \(changed) | baseline \(record.measurement.baseline ?? "-")")
                }
            }
        }
        return lines
    }

    /// Text lines for the terminal: each one made `terminalSafe`, since most of what they show was stored by others.
    static func terminal(_ lines: [String]) -> String {
        lines.map(terminalSafe).joined(separator: "\n")
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try Reports.encoder.encode(value), as: UTF8.self)
    }

    static func text(
        _ record: ControlStore.RolloutRecord, steps: [ControlStore.StepRecord], checks: [CheckSection] = [],
        tenants: Reports.TenantSet? = nil, throttled: [ControlStore.ThrottledShard] = []
    ) -> String {
        let kind = record.kind == .rollout ? "rollout" : "\(record.kind.rawValue) rollout"
        var lines = [
            "\(kind) \(record.id): \(record.state) — change \(record.change) on fleet \(record.fleet), policy \(record.policy)"
        ]
        if let parent = record.parentID { lines.append("  retries rollout \(parent)") }
        if let tenants { lines.append("  tenants: \(tenants.started) (its set when it started)") }
        if let note = tenants?.note {
            let shown = tenants?.appearedTenants ?? []
            let more = (tenants?.appeared ?? 0) - shown.count
            lines.append("  \(note): \(shown.joined(separator: ", "))\(more > 0 ? " and \(more) more" : "")")
        }
        if let reason = record.reason { lines.append("  reason: \(reason)") }
        for shard in throttled { lines.append("  \(shard.description)") }
        var phases: [String] = []
        for step in steps where !phases.contains(step.phase) { phases.append(step.phase) }
        for phase in phases {
            lines.append("  phase \(phase)")
            var waves: [String] = []
            for step in steps where step.phase == phase && !waves.contains(step.wave) { waves.append(step.wave) }
            for wave in waves {
                let members = steps.filter { $0.phase == phase && $0.wave == wave }
                var counts: [StepState: Int] = [:]
                for step in members { counts[step.state, default: 0] += 1 }
                let order: [StepState] = [.applied, .running, .failed, .quarantined, .reverted, .pending]
                let summary = order.compactMap { state in
                    counts[state].map { "\($0) \(state == .applied ? "done" : state.rawValue)" }
                }.joined(separator: ", ")
                lines.append("    wave \(wave): \(summary)")
                for step in members where step.state == .failed || step.state == .quarantined {
                    lines.append(
                        "      \(step.tenant) (shard \(step.shard)): \(step.state.rawValue): \(step.sqlState.map { "SQLSTATE \($0): " } ?? "")\(step.error ?? "")"
                    )
                }
            }
        }
        lines += checkLines(checks)
        return terminal(lines)
    }
}

/// A fleet's tenant ids now, for `status` to name the tenants that appeared since a rollout started: from the fleet's
/// definitions in the current folder (its tenant sources resolved), read once per fleet. Nil when the definitions are
/// not here or a source cannot be read: status then says nothing about them.
actor CurrentTenants {
    let session: Session
    /// `--fleet`, when given: the definitions to use whatever the rollout's fleet name.
    let fleet: String?
    private var known: [String: [String]?] = [:]

    init(session: Session, fleet: String?) {
        self.session = session
        self.fleet = fleet
    }

    func ids(fleet name: String) async -> [String]? {
        if let ids = known[name] { return ids }
        let ids = await read(name)
        known[name] = ids
        return ids
    }

    private func read(_ name: String) async -> [String]? {
        let workspace = currentWorkspace()
        guard let fleet = try? workspace.loadFleet(self.fleet ?? name), fleet.name == name else { return nil }
        guard
            let resolved = try? await TenantSources.resolve(
                fleet, embedded: session.embeddedURL, environment: workspace.environment, logger: session.logger)
        else { return nil }
        return resolved.fleet.tenants.map(\.id)
    }
}
