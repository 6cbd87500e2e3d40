import ArgumentParser
import FlotillaEngine
import FlotillaModel

extension Flotilla {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parse and check fleets, changes and policies.",
            discussion:
                "With no paths, checks fleets/ and policies/ under the current folder. Exit 0 when valid, 2 when not.")

        @Argument(help: "Files or folders to check.")
        var paths: [String] = []

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        @Flag(help: "Also read each fleet's tenant sources (registry queries, discovery) and check their rows.")
        var resolve = false

        func run() async throws {
            let workspace = currentWorkspace()
            var report = workspace.validate(paths)
            if resolve, !report.hasErrors { report.diagnostics += try await sourceDiagnostics(report, workspace) }
            switch format {
            case .json:
                let diagnostics: [JSONValue] = report.diagnostics.map {
                    .object([
                        "file": .string($0.location.file), "line": .number(Double($0.location.line)),
                        "column": .number(Double($0.location.column)), "severity": .string($0.severity.rawValue),
                        "key_path": .string($0.keyPath), "message": .string($0.message),
                    ])
                }
                let document: JSONValue = .object([
                    "valid": .bool(!report.hasErrors), "files": .array(report.files.map(JSONValue.string)),
                    "diagnostics": .array(diagnostics),
                ])
                print(document.rendered())
                if report.hasErrors { throw ExitCode(2) }
            case .text:
                try reportDiagnostics(report.diagnostics)
                print(
                    "ok: \(report.files.count) files — \(report.fleets.count) fleet(s), \(report.changes.count) change(s), \(report.policies.count) polic\(report.policies.count == 1 ? "y" : "ies")"
                )
            }
        }
    }
}

extension Flotilla.Validate {
    /// The problems of every validated fleet's tenant sources, as diagnostics at their `from:` / `discover:` entries.
    func sourceDiagnostics(_ report: ValidationReport, _ workspace: Workspace) async throws -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        let logger = makeLogger()
        for file in report.fleetFiles {
            let fleet = try loading { () throws(DefinitionError) in try workspace.loadFleet(file) }
            do {
                _ = try await resolveTenantSources(fleet, environment: workspace.environment, logger: logger)
            } catch let error as ShardError {
                diagnostics.append(Diagnostic(at: fleet.location, keyPath: "shards", error.description))
            } catch let error as TenantSourceErrors {
                diagnostics += error.errors.map { Diagnostic(at: $0.source.location, keyPath: "tenants", $0.detail) }
                if error.more > 0, let last = error.errors.last {
                    diagnostics.append(
                        Diagnostic(
                            at: last.source.location, keyPath: "tenants",
                            "\(error.more) more problems with the tenant sources of fleet \(fleet.name)"))
                }
            }
        }
        return diagnostics
    }
}
