import Foundation

/// Why the embedded PostgreSQL server could not be set up, started, stopped or used.
///
/// ``description`` says what failed and where, followed by the program's output and the tail of
/// `postgres.log` when there is one. None of it contains the superuser password.
public struct EmbeddedPostgresError: Error, Sendable, CustomStringConvertible, LocalizedError {
    public enum Code: String, Sendable, Hashable {
        /// The cluster folder cannot be created, or the `postgres` user cannot reach it.
        case directory
        /// The unprivileged `postgres` OS user is missing and could not be created.
        case serverUser
        /// `initdb` failed.
        case initdb
        /// `pg_ctl start` failed or the started server does not answer.
        case start
        /// `pg_ctl stop` failed.
        case stop
        /// The folder holds a cluster that cannot be used as it is.
        case cluster
        /// An operation needs a started server.
        case notStarted
    }

    public let code: Code
    public let message: String
    /// What the failing program printed, if anything.
    public let output: String
    /// The last lines of `postgres.log`, if relevant.
    public let logTail: String

    public init(_ code: Code, _ message: String, output: String = "", logTail: String = "") {
        self.code = code
        self.message = message
        self.output = output
        self.logTail = logTail
    }

    public var description: String {
        var text = message
        let output = output.trimmingCharacters(in: .whitespacesAndNewlines)
        if !output.isEmpty { text += "\n--- output ---\n" + output }
        let logTail = logTail.trimmingCharacters(in: .whitespacesAndNewlines)
        if !logTail.isEmpty { text += "\n--- postgres.log (last lines) ---\n" + logTail }
        return text
    }

    public var errorDescription: String? { description }
}
