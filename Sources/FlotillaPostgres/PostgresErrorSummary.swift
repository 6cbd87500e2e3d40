import PostgresNIO

/// A one-line, human-readable account of an error from PostgresNIO, safe to log and show.
///
/// `PSQLError`'s own `description` is a fixed placeholder and its `debugDescription` includes the
/// query and its bind values. This gives the server's message, SQLSTATE, detail and hint, or for
/// client-side failures the error code and its cause. Transaction errors are unwrapped.
///
/// `duplicate key value violates unique constraint "users_pkey" (SQLSTATE 23505); detail: Key (id)=(1) already exists.`
public func postgresErrorSummary(_ error: any Error) -> String {
    if let error = error as? PostgresTransactionError {
        if let cause = error.closureError ?? error.commitError ?? error.beginError {
            var text = postgresErrorSummary(cause)
            if let rollback = error.rollbackError {
                text += "; rollback also failed: \(postgresErrorSummary(rollback))"
            }
            return text
        }
        return "transaction failed"
    }
    if let error = error as? PostgresError {
        // The older error type, thrown by the EventLoopFuture API (`simpleQuery` and friends).
        switch error {
        case .server(let message):
            var text = message.fields[.message] ?? "server error"
            if let state = message.fields[.sqlState] { text += " (SQLSTATE \(state))" }
            if let detail = message.fields[.detail] { text += "; detail: \(detail)" }
            if let hint = message.fields[.hint] { text += "; hint: \(hint)" }
            return text
        case .protocol(let message): return "protocol error: \(message)"
        case .connectionClosed: return "the connection was closed"
        }
    }
    guard let error = error as? PSQLError else { return String(describing: error) }
    if let info = error.serverInfo {
        var text = info[.message] ?? "server error"
        if let state = info[.sqlState] { text += " (SQLSTATE \(state))" }
        if let detail = info[.detail] { text += "; detail: \(detail)" }
        if let hint = info[.hint] { text += "; hint: \(hint)" }
        return text
    }
    switch error.code {
    case .sslUnsupported:
        return "the server does not support TLS, which the sslmode requires"
    case .queryCancelled:
        return "the query was cancelled"
    case .serverClosedConnection:
        return "the server closed the connection"
    case .clientClosedConnection:
        return "the connection was closed by the client"
    case .poolClosed:
        return "the client has been shut down"
    case .authMechanismRequiresPassword:
        return "the server asks for a password and none was given (URL, PGPASSWORD or ~/.pgpass)"
    case .unsupportedAuthMechanism:
        return "the server asks for an authentication method that is not supported"
    default:
        if let underlying = error.underlying {
            return "\(error.code): \(underlying)"
        }
        return "\(error.code)"
    }
}

/// The SQLSTATE of a server error (`23505`, `55P03`, `57014`…), unwrapping transaction errors;
/// `nil` for errors that did not come from the server.
public func postgresSQLState(_ error: any Error) -> String? {
    if let error = error as? PostgresTransactionError {
        return (error.closureError ?? error.commitError ?? error.beginError).flatMap(postgresSQLState)
    }
    if case .server(let message) = error as? PostgresError {
        return message.fields[.sqlState]
    }
    return (error as? PSQLError)?.serverInfo?[.sqlState]
}
