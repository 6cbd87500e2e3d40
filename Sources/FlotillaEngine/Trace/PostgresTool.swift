import FlotillaPostgres
import Foundation

/// Runs `pg_dump` and `psql` against one database. The connection settings go through libpq's environment
/// (`PGHOST`, `PGPASSWORD`…), so the password is never on a command line and never printed.
struct PostgresTool: Sendable {
    var binaries: PostgresBinaries

    /// The child's environment: this process's, without any `PG…` variable, plus `url`'s settings.
    static func environment(for url: ConnectionURL) -> [String: String] {
        url.libpqEnvironment(applicationName: "flotilla-trace")
    }

    /// Runs `tool` on `url`'s database; returns its standard output, or throws with its standard error.
    func run(_ tool: PostgresBinaries.Tool, _ arguments: [String], on url: ConnectionURL, what: String)
        async throws -> String
    {
        let executable: URL
        do { executable = try binaries.path(for: tool) } catch { throw ToolFailure(message: "\(error)") }
        let result = try await ProcessRunner.run(
            executable, arguments, environment: Self.environment(for: url), terminateOnCancel: true)
        guard result.succeeded else {
            let output = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ToolFailure(
                message: "\(what) failed (\(tool) on \(url.redacted), exit \(result.status)): \(output)")
        }
        return result.standardOutput
    }

    /// Runs an SQL script file with psql: stops at the first error, in one transaction when `singleTransaction`.
    func runScript(_ file: URL, on url: ConnectionURL, singleTransaction: Bool = false, what: String) async throws {
        var arguments = ["-X", "-q", "-v", "ON_ERROR_STOP=1"]
        if singleTransaction { arguments.append("--single-transaction") }
        _ = try await run(.psql, arguments + ["-f", file.path], on: url, what: what)
    }

    /// Quotes an argument of a psql meta-command (`\echo 'text'`): `'` doubled, `\` escaped.
    static func metaCommandArgument(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
    }
}

/// `pg_dump` or `psql` failed; the message is the program's, the URL is printed without its password.
struct ToolFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
