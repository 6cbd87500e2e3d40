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
        if cursor.at("alter", "schema") { return analyzeAlterSchema(cursor) }
        if cursor.at("alter", "domain") { return analyzeAlterDomain(cursor) }
        if cursor.at("alter", "type") { return analyzeAlterType(cursor) }
        return trackTransactionControl(cursor)
    }

    // MARK: Transactions

    /// `BEGIN` and `COMMIT` and their synonyms; flags a `BEGIN` inside a transaction it opened and a `COMMIT`
    /// with no transaction open (PostgreSQL only warns about both).
    private mutating func trackTransactionControl(_ cursor: TokenCursor) -> [Verdict] {
        // `COMMIT PREPARED` / `ROLLBACK PREPARED` finish a two-phase transaction and run outside one.
        if cursor.at("commit", "prepared") || cursor.at("rollback", "prepared") { return [] }
        let isBegin = cursor.at("begin") || cursor.at("start", "transaction")
        let isEnd =
            cursor.at("commit") || cursor.at("end") || cursor.at("abort") || cursor.at("prepare", "transaction")
            || (cursor.at("rollback") && !cursor.tokens.contains { $0.isKeyword("to") })
        if (isBegin || isEnd) && state.isInPhaseTransaction {
            let verb = tokens[0].text.uppercased()
            if isEnd { state.endTransaction() }
            return [
                Verdict(
                    .transactionControlInPhase, "\(verb) inside the transaction Flotilla runs the phase in",
                    advice: isBegin
                        ? "PostgreSQL ignores it with a warning, and a COMMIT after it would end the phase's own "
                            + "transaction; remove it: the phase's statements, its verify and the ledger row already "
                            + "run in one transaction"
                        : "it commits (or rolls back) the statements before it on their own, so what follows, the "
                            + "verify and the ledger row run outside that transaction: a failure then leaves the "
                            + "tenant changed but not recorded, and the retry runs the statements again; remove it, "
                            + "or give the phase `transaction: none`"
                )
            ]
        }
        if isBegin {
            if let first = state.openingBegin {
                return [
                    Verdict(
                        .transactionShape, "BEGIN inside the transaction opened by the BEGIN on line \(first.line)",
                        advice: "PostgreSQL ignores it with a warning, so the first COMMIT ends both and what follows "
                            + "runs outside any transaction; remove the inner BEGIN"
                    )
                ]
            }
            state.beginTransaction(at: tokens[0])
        } else if isEnd {
            let verb = tokens[0].text.uppercased()
            guard state.isInTransaction else {
                return [
                    Verdict(
                        .transactionShape, "\(verb) with no transaction open",
                        advice: "PostgreSQL only warns, and the statements before it already ran one by one; "
                            + "open the transaction with BEGIN where it should start, or remove the \(verb)"
                    )
                ]
            }
            state.endTransaction()
        }
        return []
    }

    /// The finding for a `BEGIN` still open when its input ends, nil when there is none.
    static func unterminatedBegin(_ state: ChangeState) -> Verdict? {
        guard let begin = state.openingBegin else { return nil }
        return Verdict(
            .transactionShape, "BEGIN is never committed",
            advice: "what follows it is committed or rolled back only when the session ends, depending on who "
                + "runs it; end the transaction with COMMIT",
            at: begin
        )
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
            let options = cursor.atSymbol("(") ? (cursor.parenthesized() ?? []).splitAtTopLevelCommas() : []
            let full = cursor.at("full") || options.contains(where: Self.isFullOption)
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

    /// `FULL`, `FULL TRUE`, `FULL ON`, `FULL 1` in VACUUM's option list; `FULL FALSE`, `FULL OFF`, `FULL 0`
    /// are not.
    private static func isFullOption(_ option: ArraySlice<SQLToken>) -> Bool {
        guard let name = option.first, name.isKeyword("full") else { return false }
        guard let value = option.dropFirst().first else { return true }
        let off = ["false", "off", "0", "'false'", "'off'", "'0'"]
        return !off.contains(SQLToken.fold(value.text))
    }
}
