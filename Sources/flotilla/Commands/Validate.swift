import ArgumentParser
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

        func run() async throws {
            let report = currentWorkspace().validate(paths)
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
