extension SQLStatement {
    /// Whether PostgreSQL refuses to run this statement inside a transaction block (SQLSTATE 25001):
    /// `CREATE/DROP INDEX CONCURRENTLY`, `REINDEX … CONCURRENTLY`, `REINDEX DATABASE/SYSTEM`, `VACUUM`,
    /// `CREATE/DROP DATABASE`, `CREATE/DROP TABLESPACE`, `ALTER SYSTEM`, `ALTER TABLE … DETACH PARTITION …
    /// CONCURRENTLY`. An engine running a phase with `transaction: auto` runs these on their own.
    public var mustRunOutsideTransaction: Bool {
        var cursor = TokenCursor(SQLLexer.tokens(in: text))
        if cursor.accept("create") || cursor.accept("drop") {
            cursor.accept("unique")
            if cursor.accept("index") { return cursor.at("concurrently") }
            return cursor.at("database") || cursor.at("tablespace")
        }
        if cursor.accept("reindex") {
            let options = cursor.parenthesized().map(Array.init) ?? []
            if cursor.at("database") || cursor.at("system") { return true }
            cursor.advance()
            return cursor.at("concurrently") || options.contains { $0.isKeyword("concurrently") }
        }
        if cursor.at("vacuum") || cursor.at("alter", "system") { return true }
        if cursor.accept("alter", "table") {
            let rest = cursor.rest
            return rest.containsTopLevelKeyword("detach") && rest.containsTopLevelKeyword("concurrently")
        }
        return false
    }
}
