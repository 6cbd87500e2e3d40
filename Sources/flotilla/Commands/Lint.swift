import ArgumentParser
import FlotillaEngine
import FlotillaLint
import FlotillaModel
import FlotillaPlan
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

        @Option(help: "With --trace: the fleet, a name (fleets/NAME/fleet.yaml), its folder, or its fleet.yaml.")
        var fleet: String?

        @Option(help: "With --trace: the tenant whose schema is copied (default: the fleet's first).")
        var tenant: String?

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
            } else if fleet != nil || tenant != nil {
                throw ValidationError("--fleet and --tenant go with --trace")
            }
        }

        func run() async throws {
            if rules { return print(RulesDocument.markdown(), terminator: "") }
            if schema { return print(FindingSchema.rendered(), terminator: "") }
            if trace { return try await runTraced() }
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
