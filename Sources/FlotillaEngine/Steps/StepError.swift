import FlotillaPostgres
import PostgresNIO

/// A tenant step that failed: which tenant, shard and phase, and PostgreSQL's SQLSTATE and message.
public struct StepError: Error, Sendable, CustomStringConvertible {
    public var tenant: String
    public var shard: String
    public var phase: String
    public var sqlState: String?
    public var message: String
    /// The tenant's server was lost or unreachable.
    public var isConnectionLoss: Bool

    public init(
        tenant: String, shard: String, phase: String, sqlState: String? = nil, message: String,
        isConnectionLoss: Bool = false
    ) {
        self.tenant = tenant
        self.shard = shard
        self.phase = phase
        self.sqlState = sqlState
        self.message = message
        self.isConnectionLoss = isConnectionLoss
    }

    public var description: String {
        "tenant \(tenant) (shard \(shard), phase \(phase)): \(sqlState.map { "SQLSTATE \($0): " } ?? "")\(message)"
    }
}

/// What PostgreSQL said, without connection details or passwords.
struct DatabaseFailure: Sendable {
    var sqlState: String?
    var message: String
    /// The session was lost or could not be opened (a server restarting, stopping or unreachable): nothing of the
    /// step's transaction was committed, so the step can be tried again on a new session.
    var isConnectionLoss = false

    init(_ error: any Error) {
        if let error = error as? PSQLError {
            sqlState = error.serverInfo?[.sqlState]
            var text = error.serverInfo?[.message] ?? "\(error.code)"
            if let detail = error.serverInfo?[.detail] { text += " (\(detail))" }
            if error.serverInfo == nil, let underlying = error.underlying { text += ": \(underlying)" }
            message = text
            isConnectionLoss =
                [.serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection].contains(
                    error.code) || Self.connectionStates.contains(where: { (sqlState ?? "").hasPrefix($0) })
        } else if let error = error as? StepError {
            sqlState = error.sqlState
            message = error.message
            isConnectionLoss = error.isConnectionLoss
        } else if let error = error as? ShardError {
            sqlState = nil
            message = error.description
            isConnectionLoss = error.open != nil
        } else if let error = error as? SessionLostError {
            sqlState = nil
            message = error.description
            isConnectionLoss = true
        } else if let error = error as? ConnectionOpenError {
            sqlState = nil
            message = error.description
            isConnectionLoss = true
        } else {
            sqlState = nil
            message = "\(error)"
        }
    }

    /// SQLSTATEs of a server going away: admin_shutdown, crash_shutdown, cannot_connect_now, connection exceptions.
    static let connectionStates = ["57P01", "57P02", "57P03", "08"]

    /// Lock timeouts, deadlocks, serialization failures and lost sessions are worth another try.
    var isRetryable: Bool {
        isConnectionLoss || ["55P03", "40P01", "40001"].contains(sqlState ?? "")
    }
}
