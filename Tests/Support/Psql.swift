import FlotillaPostgres
import Foundation

/// Runs SQL through the `psql` program, independently of the code under test, and returns what
/// it printed: unaligned, tuples only (`-X -A -t`), one row per line, columns separated by `|`.
///
/// The connection settings go through the environment (`PGHOST`, `PGPASSWORD`…), so the password
/// never appears on a command line. Stops at the first error (`ON_ERROR_STOP=1`) and throws with
/// psql's message.
public func psql(_ url: ConnectionURL, _ sql: String) throws -> String {
    let binary = try PostgresBinaries.locate().path(for: .psql)
    let environment = url.libpqEnvironment()
    let result = try ProcessRunner.run(
        binary, ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"], environment: environment, input: sql)
    guard result.succeeded else {
        throw PsqlError(url: url, status: result.status, message: result.standardError)
    }
    var output = result.standardOutput
    if output.hasSuffix("\n") { output.removeLast() }
    return output
}

/// psql failed; the message is psql's, the URL is printed without its password.
public struct PsqlError: Error, CustomStringConvertible {
    public let url: ConnectionURL
    public let status: Int32
    public let message: String

    public var description: String {
        "psql on \(url) failed (exit \(status)): \(message.trimmingCharacters(in: .whitespacesAndNewlines))"
    }
}

/// `url` as a `postgres://` string with its password in it, for the fleet files a test writes
/// (`ConnectionURL.description` hides the password); `database` replaces the URL's.
public func postgresURL(_ url: ConnectionURL, database: String? = nil) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text }
    var text = "postgres://\(encode(url.user))"
    if let password = url.password { text += ":\(encode(password))" }
    return text + "@\(url.host):\(url.port)/\(encode(database ?? url.database))?sslmode=\(url.sslMode.rawValue)"
}
