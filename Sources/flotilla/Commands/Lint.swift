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
                """)

        @Argument(help: "Change files (.yaml) or SQL files (.sql).")
        var paths: [String]

        @Option(help: "Output format: text, json, sarif or github.")
        var format: LintFormat = .text

        @Option(help: "Exit 1 when a finding is at least this risky: low, medium, high or error.")
        var failOn: Risk = .high

        @Flag(help: "Treat .sql files as running inside one transaction block.")
        var inTransaction = false

        func run() async throws {
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
    }
}
