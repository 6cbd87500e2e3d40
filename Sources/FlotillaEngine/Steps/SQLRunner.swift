import FlotillaLint
import FlotillaPostgres
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Runs SQL text from definitions on one connection, statement by statement.
enum SQLRunner {
    /// Runs every statement of `sql` (split by the lexer, so dollar quotes and comments are respected).
    static func run(_ sql: String, on connection: PostgresConnection, logger: Logger) async throws {
        for statement in statements(in: sql) {
            try await execute(statement, on: connection, logger: logger)
        }
    }

    /// The statements of a phase's SQL, lexed once per text: every tenant runs the same phase.
    static func statements(in sql: String) -> [String] {
        if let known = lexed.withLock({ $0[sql] }) { return known }
        let statements = SQLLexer.statements(in: sql).map(\.text)
        lexed.withLock { cache in
            if cache.count > 256 { cache.removeAll() }
            cache[sql] = statements
        }
        return statements
    }

    /// Whether `sql` needs to run outside a transaction, worked out once per text.
    static func needsNoTransaction(_ sql: String) -> Bool {
        if let known = outsideTransaction.withLock({ $0[sql] }) { return known }
        let answer = lexNeedsNoTransaction(sql)
        outsideTransaction.withLock { cache in
            if cache.count > 256 { cache.removeAll() }
            cache[sql] = answer
        }
        return answer
    }

    private static let lexed = Mutex<[String: [String]]>([:])
    private static let outsideTransaction = Mutex<[String: Bool]>([:])

    static func execute(_ sql: String, on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        for try await _ in rows {}
    }

    static func execute(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query(query, logger: logger)
        for try await _ in rows {}
    }

    /// Tidies a session after `error` (ROLLBACK, an unlock, a reset of settings) — unless the session is lost: a statement sent
    /// on a connection the server is closing may never be answered, and the server rolls back and unlocks by itself.
    /// Bounded all the same: a session that does not answer within `limit` is closed, which ends the statement.
    static func cleanUp(
        _ query: PostgresQuery, on connection: PostgresConnection, after error: any Error, logger: Logger,
        limit: TimeAmount = .seconds(2)
    ) async {
        if connection.isClosed || DatabaseFailure(error).isConnectionLoss {
            connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
            return
        }
        let closer = connection.eventLoop.scheduleTask(in: limit) {
            connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
        }
        defer { closer.cancel() }
        try? await execute(query, on: connection, logger: logger)
    }

    /// The first column of the first row, as text (`t`/`f` for booleans), or nil when there is no row.
    static func firstValue(_ sql: String, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT (\(sql))::text"), logger: logger)
        for try await row in rows {
            return try row.decode(String?.self)
        }
        return nil
    }

    /// Statements that PostgreSQL refuses inside a transaction block.
    private static func lexNeedsNoTransaction(_ sql: String) -> Bool {
        SQLLexer.statements(in: sql).contains { statement in
            let words = SQLLexer.tokens(in: statement.text).prefix(6).map { $0.text.uppercased() }
            let head = words.joined(separator: " ")
            return words.contains("CONCURRENTLY") || head.hasPrefix("VACUUM") || head.hasPrefix("CREATE DATABASE")
                || head.hasPrefix("DROP DATABASE") || head.hasPrefix("ALTER TYPE") && head.contains("ADD VALUE")
                || head.hasPrefix("REINDEX") && words.contains("CONCURRENTLY")
        }
    }

    /// Makes `CREATE INDEX CONCURRENTLY name` and `DROP INDEX CONCURRENTLY name` safe to run again after a crash.
    static func idempotent(_ statement: String) -> (sql: String, invalidIndex: String?) {
        let tokens = SQLLexer.tokens(in: statement)
        let words = tokens.map { $0.text.uppercased() }
        guard words.count >= 4 else { return (statement, nil) }
        var index = 0
        if words[0] == "CREATE" {
            index = 1
            if words[index] == "UNIQUE" { index += 1 }
            guard words[index] == "INDEX", words[index + 1] == "CONCURRENTLY" else { return (statement, nil) }
            index += 2
            if words.count > index + 2, words[index] == "IF", words[index + 1] == "NOT", words[index + 2] == "EXISTS" {
                return (statement, tokens.count > index + 3 ? tokens[index + 3].text : nil)
            }
            guard words.count > index, words[index] != "ON" else { return (statement, nil) }
            let name = tokens[index]
            let position = statement.index(statement.startIndex, offsetBy: name.offset)
            return (String(statement[..<position]) + "IF NOT EXISTS " + String(statement[position...]), name.text)
        }
        if words[0] == "DROP", words[1] == "INDEX", words[2] == "CONCURRENTLY", words[3] != "IF" {
            let name = tokens[3]
            let position = statement.index(statement.startIndex, offsetBy: name.offset)
            return (String(statement[..<position]) + "IF EXISTS " + String(statement[position...]), nil)
        }
        return (statement, nil)
    }
}
