import ArgumentParser
import FlotillaEngine
import FlotillaLint
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaServer
import Foundation

extension LintFormat: ExpressibleByArgument {}
extension Risk: ExpressibleByArgument {}

extension Flotilla {
    struct Lint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The risk of each statement: lock, strategy and the safe rewrite.",
            discussion: """
                Takes change files (.yaml: each phase's up SQL) and .sql files. One finding per statement, low ones \
                included. Acknowledge a finding with `-- flotilla:ignore RULE reason` on the statement, or per phase \
                with `ignore: [{rule: RULE, reason: …}]`. Exit 1 when an unacknowledged finding reaches --fail-on.

                With --trace --fleet F CHANGE, the change also runs on a scratch copy of one tenant's schema in the \
                embedded PostgreSQL (each statement inside BEGIN … ROLLBACK); the locks PostgreSQL really takes and \
                the tables it rewrites replace the classifier's guesses, and a rewrite of a table with rows is high risk.

                With --fleet F CHANGE… (no --trace), each finding is judged on one tenant's live catalog, read with \
                read-only queries: a type change binary-coercible from the column's current type, or a SET NOT NULL \
                that a validated CHECK (col IS NOT NULL) proves, is lowered; a rewrite or scan is at least medium from \
                the policy's risk.rows_medium rows and high from risk.rows_high (defaults 100000 and 10000000), one \
                step lower below rows_medium; a foreign key whose columns no index leads with is flagged \
                (fk-without-index). The tenant is --tenant ID, or by default --largest: each shard's tenant with the \
                most rows in the touched tables, and the largest of those.
                """)

        @Argument(help: "Change files (.yaml) or SQL files (.sql).")
        var paths: [String] = []

        @Flag(help: "Print every rule (what it catches, lock, risk, strategy, safe rewrite, an example) and exit.")
        var rules = false

        @Flag(help: "Print the JSON Schema of --format json output and exit.")
        var schema = false

        @Option(help: "Output format: text, json, sarif or github.")
        var format: LintFormat = .text

        @Option(help: "Exit 1 when a finding is at least this risky: low, medium, high or error.")
        var failOn: Risk = .high

        @Flag(help: "Treat .sql files as running inside one transaction block.")
        var inTransaction = false

        @Flag(help: "Trace the change on a scratch copy of a tenant's schema in the embedded PostgreSQL.")
        var trace = false

        @Option(
            help: "The fleet, a name (fleets/NAME/fleet.yaml), its folder, or its fleet.yaml: judge on its live schema."
        )
        var fleet: String?

        @Option(
            help:
                "With --fleet: the tenant judged on (default --largest); with --trace: the tenant copied (default: the first)."
        )
        var tenant: String?

        @Flag(help: "With --fleet: judge on the tenant with the most rows in the touched tables (the default).")
        var largest = false

        @Option(
            help:
                "With --fleet: the policy whose risk thresholds apply (default rows_medium 100000, rows_high 10000000)."
        )
        var policy: String?

        @Option(help: "With --trace: rows copied per table.")
        var sampleRows = 100

        func validate() throws {
            if rules || schema {
                guard paths.isEmpty, !trace, !(rules && schema) else {
                    throw ValidationError("--rules and --schema take no files, no --trace and not each other")
                }
                return
            }
            guard !paths.isEmpty else { throw ValidationError("give change files (.yaml) or SQL files (.sql)") }
            if trace {
                guard fleet != nil else { throw ValidationError("--trace needs --fleet") }
                guard paths.count == 1 else { throw ValidationError("--trace takes exactly one change") }
                guard sampleRows >= 0 else { throw ValidationError("--sample-rows must be 0 or more") }
                guard !largest, policy == nil else {
                    throw ValidationError("--largest and --policy go without --trace")
                }
            } else if fleet != nil {
                guard !(largest && tenant != nil) else { throw ValidationError("give --tenant or --largest, not both") }
            } else if tenant != nil || largest || policy != nil {
                throw ValidationError("--tenant, --largest and --policy go with --fleet")
            }
        }

        func run() async throws {
            if rules { return print(RulesDocument.markdown(), terminator: "") }
            if schema { return print(FindingSchema.rendered(), terminator: "") }
            if trace { return try await runTraced() }
            if fleet != nil { return try await runLive() }
            var findings: [Finding] = []
            var problems: [Diagnostic] = []
            let source = FileSystemSource()
            for path in paths {
                guard source.isFile(path) else {
                    problems.append(Diagnostic(at: SourceLocation(file: path, line: 0, column: 0), "no such file"))
                    continue
                }
                let text: String
                do { text = try source.read(path) } catch {
                    problems.append(
                        Diagnostic(at: SourceLocation(file: path, line: 0, column: 0), "cannot read: \(error)"))
                    continue
                }
                if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
                    do {
                        findings += ChangeLint.findings(try Change.parse(text, file: path))
                    } catch {
                        problems += error.diagnostics
                    }
                } else {
                    findings += Linter().lint(LintInput(file: path, sql: text, inTransaction: inTransaction))
                }
            }
            try reportDiagnostics(problems)
            print(LintRenderer.render(findings, format: format))
            if findings.contains(where: { $0.fails(at: failOn) }) { throw ExitCode(1) }
        }

        /// `--fleet` without `--trace`: judges the changes on one tenant's live catalog.
        private func runLive() async throws {
            let workspace = currentWorkspace()
            let (fleet, changes, policy) = try loading { () throws(DefinitionError) in
                let fleet = try workspace.loadFleet(self.fleet ?? "")
                var changes: [Change] = []
                var problems: [Diagnostic] = []
                for path in paths {
                    do throws(DefinitionError) {
                        changes.append(try workspace.loadChange(path, fleet: fleet))
                    } catch {
                        problems += error.diagnostics
                    }
                }
                if !problems.isEmpty { throw DefinitionError(problems) }
                return (
                    fleet, changes,
                    try self.policy.map { path throws(DefinitionError) in try workspace.loadPolicy(path) }
                )
            }
            let thresholds = policy?.risk ?? RiskThresholds()
            let logger = makeLogger()
            let environment = workspace.environment
            let wanted = self.tenant
            let outcome = try await runtime {
                var embedded: ConnectionURL?
                if fleet.shards.contains(where: { $0.url.hasPrefix("embedded:") }) {
                    embedded = try await Session.startEmbedded(environment: environment, logger: logger).1
                }
                let listed = wanted.map { id in fleet.tenants.contains { $0.id == id } } ?? false
                let resolved =
                    listed
                    ? fleet
                    : try await resolveTenants(fleet, environment: environment, embedded: embedded, logger: logger)
                        .fleet
                let choice: LiveLint.Choice
                if let wanted {
                    guard let tenant = resolved.tenants.first(where: { $0.id == wanted }) else {
                        printError(
                            "\(fleet.file):\(fleet.location.line):\(fleet.location.column): error: fleet \(fleet.name) has no tenant '\(wanted)'"
                        )
                        printError("1 error; nothing was read")
                        throw ExitCode(2)
                    }
                    choice = .tenant(tenant)
                } else {
                    choice = .largest
                }
                let connections = try FleetConnections(
                    fleet: resolved, embedded: embedded, environment: environment, logger: logger)
                return try await connections.run {
                    try await LiveLint(connections: connections, logger: logger).judge(
                        changes, tenants: resolved.tenants, choice: choice, thresholds: thresholds)
                }
            }
            printError(terminalSafe("\(outcome.note) of fleet \(fleet.name)"))
            print(LintRenderer.render(outcome.findings, format: format))
            if outcome.findings.contains(where: { $0.fails(at: failOn) }) { throw ExitCode(1) }
        }

        /// `--trace`: lints the change, traces it on a copy of one tenant, and merges what was observed.
        private func runTraced() async throws {
            let workspace = currentWorkspace()
            let (fleet, change) = try loading { () throws(DefinitionError) in
                let fleet = try workspace.loadFleet(self.fleet ?? "")
                return (fleet, try workspace.loadChange(paths[0], fleet: fleet))
            }
            // The fleet's tenant sources are read only when its listed tenants do not have the one to trace.
            let listed = self.tenant.map { id in fleet.tenants.contains { $0.id == id } } ?? !fleet.tenants.isEmpty
            let logger = makeLogger()
            let tenants =
                listed
                ? fleet.tenants
                : try await resolveTenants(fleet, environment: workspace.environment, logger: logger).fleet.tenants
            let chosen: Tenant? = if let id = self.tenant { tenants.first { $0.id == id } } else { tenants.first }
            guard let tenant = chosen else {
                let what = self.tenant.map { "no tenant '\($0)'" } ?? "no tenants"
                printError(
                    "\(fleet.file):\(fleet.location.line):\(fleet.location.column): error: fleet \(fleet.name) has \(what)"
                )
                printError("1 error; nothing was changed")
                throw ExitCode(2)
            }
            let sampleRows = self.sampleRows
            let trace = try await runtime {
                try await ChangeTracer.traceInEmbedded(
                    change, fleet: fleet, tenant: tenant, environment: workspace.environment, sampleRows: sampleRows,
                    logger: logger)
            }
            printError(
                "traced \(change.id) on a copy of tenant \(tenant.id) (\(tenant.placement)) of fleet \(fleet.name)")
            for note in trace.notes { printError("note: \(note)") }
            let findings = trace.apply(to: ChangeLint.findings(change), of: change)
            print(LintRenderer.render(findings, format: format))
            if findings.contains(where: { $0.fails(at: failOn) }) { throw ExitCode(1) }
        }
    }
}
