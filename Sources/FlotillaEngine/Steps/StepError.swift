import PostgresNIO

/// A tenant step that failed: which tenant, shard and phase, and PostgreSQL's SQLSTATE and message.
public struct StepError: Error, Sendable, CustomStringConvertible {
    public var tenant: String
    public var shard: String
    public var phase: String
    public var sqlState: String?
    public var message: String

    public init(tenant: String, shard: String, phase: String, sqlState: String? = nil, message: String) {
        self.tenant = tenant
        self.shard = shard
        self.phase = phase
        self.sqlState = sqlState
        self.message = message
    }

    public var description: String {
        "tenant \(tenant) (shard \(shard), phase \(phase)): \(sqlState.map { "SQLSTATE \($0): " } ?? "")\(message)"
    }
}

/// What PostgreSQL said, without connection details or passwords.
struct DatabaseFailure: Sendable {
    var sqlState: String?
    var message: String

    init(_ error: any Error) {
        if let error = error as? PSQLError {
            sqlState = error.serverInfo?[.sqlState]
            var text = error.serverInfo?[.message] ?? "\(error.code)"
            if let detail = error.serverInfo?[.detail] { text += " (\(detail))" }
            if error.serverInfo == nil, let underlying = error.underlying { text += ": \(underlying)" }
            message = text
        } else if let error = error as? StepError {
            sqlState = error.sqlState
            message = error.message
        } else {
            sqlState = nil
            message = "\(error)"
        }
    }

    /// Lock timeouts, deadlocks and serialization failures are worth another try.
    var isRetryable: Bool {
        ["55P03", "40P01", "40001"].contains(sqlState ?? "")
    }
}
