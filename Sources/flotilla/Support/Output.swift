import ArgumentParser
import FlotillaEngine
import FlotillaModel
import Foundation

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Writes to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Prints definition problems as `path:line:col: error: …` and exits 2 when any is an error.
func reportDiagnostics(_ diagnostics: [Diagnostic]) throws {
    for diagnostic in diagnostics { printError(diagnostic.description) }
    if diagnostics.contains(where: { $0.severity == .error }) {
        let count = diagnostics.filter { $0.severity == .error }.count
        printError("\(count) error\(count == 1 ? "" : "s"); nothing was changed")
        throw ExitCode(2)
    }
}

/// The workspace of the current folder: `fleets/`, `policies/`, and the process environment for `${…}`.
func currentWorkspace() -> Workspace {
    Workspace(source: FileSystemSource(), environment: ProcessInfo.processInfo.environment, root: "")
}

/// Runs a load, turning definition errors into `path:line:col: error:` lines and exit code 2.
func loading<T>(_ body: () throws(DefinitionError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        try reportDiagnostics(error.diagnostics)
        throw ExitCode(2)
    }
}
