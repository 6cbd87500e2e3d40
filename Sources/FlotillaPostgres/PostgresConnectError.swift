import Foundation

/// A connection to PostgreSQL could not be made. Names the server, database and user, and why —
/// never the password.
public struct PostgresConnectError: Error, Sendable, CustomStringConvertible, LocalizedError {
    /// `host:port`, `[::1]:5432` or a Unix socket path.
    public let endpoint: String
    public let database: String
    public let user: String
    /// What went wrong, from ``postgresErrorSummary(_:)``.
    public let reason: String
    /// The SQLSTATE when the server refused (`28P01` bad password, `3D000` no such database…).
    public let sqlState: String?

    public init(url: ConnectionURL, underlying: any Error) {
        self.endpoint = url.endpoint
        self.database = url.database
        self.user = url.user
        self.sqlState = postgresSQLState(underlying)
        var reason = postgresErrorSummary(underlying)
        if let password = url.password, !password.isEmpty {
            reason = reason.replacingOccurrences(of: password, with: "***")
        }
        self.reason = reason
    }

    public var description: String {
        "could not connect to PostgreSQL at \(endpoint) (database '\(database)', user '\(user)'): \(reason)"
    }

    public var errorDescription: String? { description }
}
