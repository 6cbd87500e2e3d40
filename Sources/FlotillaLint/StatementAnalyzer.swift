/// Classifies one statement and applies the rules to it, updating the change's state.
///
/// Every statement yields at least one verdict: a rule's, or the generic `statement` one. An
/// `ALTER TABLE` yields one verdict per action.
struct StatementAnalyzer {
    var tokens: [SQLToken]
    var state: ChangeState

    static func analyze(_ tokens: [SQLToken], state: inout ChangeState) -> [Verdict] {
        var analyzer = StatementAnalyzer(tokens: tokens, state: state)
        let verdicts = analyzer.analyze()
        state = analyzer.state
        return verdicts.isEmpty ? [analyzer.generic()] : verdicts
    }

    private mutating func analyze() -> [Verdict] {
        var cursor = TokenCursor(tokens)
        if cursor.at("with") { return analyzeData() }
        if cursor.accept("alter", "table") { return analyzeAlterTable(cursor) }
        if cursor.at("create") { return analyzeCreate(cursor) }
        if cursor.at("drop") { return analyzeDrop(cursor) }
        if cursor.at("reindex") { return analyzeReindex(cursor) }
        if cursor.at("truncate") { return analyzeTruncate(cursor) }
        if cursor.at("update") || cursor.at("delete") { return analyzeData() }
        if cursor.at("vacuum") || cursor.at("cluster") { return analyzeMaintenance(cursor) }
        if cursor.at("alter", "system") { return noTransactionBlock("ALTER SYSTEM") }
        trackTransactionControl(cursor)
        return []
    }

    // MARK: Transactions

    private mutating func trackTransactionControl(_ cursor: TokenCursor) {
        if cursor.at("begin") || cursor.at("start", "transaction") {
            state.beginTransaction()
        } else if cursor.at("commit") || cursor.at("end") || cursor.at("abort") || cursor.at("prepare", "transaction")
            || (cursor.at("rollback") && !cursor.tokens.contains { $0.isKeyword("to") })
        {
            state.endTransaction()
        }
    }

    /// For statements PostgreSQL refuses inside a transaction block.
    func noTransactionBlock(_ what: String) -> [Verdict] {
        guard state.isInTransaction else { return [] }
        return [
            Verdict(
                .noTransactionBlock, "\(what) inside a transaction block",
                advice: "PostgreSQL rejects it (SQLSTATE 25001); run it in a phase with `transaction: none`, "
                    + "outside BEGIN … COMMIT"
            )
        ]
    }

    // MARK: Maintenance

    private mutating func analyzeMaintenance(_ cursor: TokenCursor) -> [Verdict] {
        var cursor = cursor
        let isVacuum = cursor.at("vacuum")
        cursor.advance()
        if isVacuum {
            let refused = noTransactionBlock("VACUUM")
            if !refused.isEmpty { return refused }
            let options = cursor.atSymbol("(") ? Array(cursor.parenthesized() ?? []) : []
            let full = cursor.at("full") || options.contains { $0.isKeyword("full") }
            guard full else { return [] }
            return [
                Verdict(
                    .tableRewrite, "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE",
                    advice: "there is no online path; use a plain VACUUM, or pg_repack outside the rollout"
                )
            ]
        }
        return [
            Verdict(
                .tableRewrite, "CLUSTER rewrites the table under ACCESS EXCLUSIVE",
                advice: "there is no online path; leave physical ordering to pg_repack outside the rollout"
            )
        ]
    }
}
