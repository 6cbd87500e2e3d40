extension StatementAnalyzer {
    /// `ALTER TABLE [IF EXISTS] [ONLY] name [*] action, …`: one verdict per action. With several actions each
    /// verdict points at its own action.
    mutating func analyzeAlterTable(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("if", "exists")
        if cursor.at("all", "in", "tablespace") { return [] }
        cursor.accept("only")
        guard let table = cursor.qualifiedName() else { return [] }
        cursor.acceptSymbol("*")
        if cursor.at("rename") { return [analyzeRename(cursor, table: table)] }
        if cursor.accept("set", "schema") {
            let moved = QualifiedName(parts: [cursor.identifier() ?? "?", table.name])
            let verdict = Verdict(
                .renameTable, "ALTER TABLE \(table) SET SCHEMA \(moved.parts[0])",
                advice: Self.renameTableAdvice(table, to: moved.description)
            )
            return [verdict.exempted(ifCreated: table, in: state)]
        }
        let actions = cursor.rest.splitAtTopLevelCommas()
        var verdicts: [Verdict] = []
        for action in actions {
            var verdict = analyzeAction(action, table: table)
            if actions.count > 1 { verdict.anchor = action.first }
            verdicts.append(verdict)
        }
        return verdicts
    }

    private mutating func analyzeAction(_ action: ArraySlice<SQLToken>, table: QualifiedName) -> Verdict {
        var cursor = TokenCursor(action)
        let constraintWords = ["constraint", "check", "unique", "primary", "foreign", "exclude"]
        if cursor.accept("add") {
            if let next = cursor.current, constraintWords.contains(where: { next.isKeyword($0) }) {
                return analyzeAddConstraint(cursor, table: table)
            }
            return analyzeAddColumn(cursor, table: table)
        }
        if cursor.accept("drop") {
            if cursor.accept("constraint") { return analyzeDropConstraint(cursor, table: table) }
            return analyzeDropColumn(cursor, table: table)
        }
        if cursor.accept("alter"), !cursor.at("constraint") {
            cursor.accept("column")
            if let column = cursor.identifier() {
                return analyzeAlterColumn(cursor, column: column, table: table, action: action)
            }
        }
        if cursor.accept("validate", "constraint") { return analyzeValidate(cursor, table: table) }
        if cursor.at("set", "tablespace") || cursor.at("set", "logged") || cursor.at("set", "unlogged")
            || cursor.at("set", "access", "method")
        {
            let verdict = Verdict(
                .tableRewrite, "ALTER TABLE \(table) \(Self.words(action))",
                advice: "it rewrites the whole table under ACCESS EXCLUSIVE and there is no online path; "
                    + "run it in a maintenance window, or copy into a new table and switch with the alias pattern"
            )
            return verdict.exempted(ifCreated: table, in: state)
        }
        if cursor.accept("detach", "partition") {
            let partition = cursor.qualifiedName().map(\.description) ?? "?"
            if action.contains(where: { $0.isKeyword("concurrently") }) {
                if let refused = concurrentlyInTransaction("ALTER TABLE \(table) DETACH PARTITION … CONCURRENTLY") {
                    return refused
                }
                return genericAction(action, table: table)
            }
            if !action.contains(where: { $0.isKeyword("finalize") }) {
                let verdict = Verdict(
                    .detachPartition, "ALTER TABLE \(table) DETACH PARTITION \(partition)",
                    advice: "it takes ACCESS EXCLUSIVE on \(table), queued behind every running query on any of its "
                        + "partitions and blocking all that come after; use ALTER TABLE \(table) DETACH PARTITION "
                        + "\(partition) CONCURRENTLY in a phase with `transaction: none` (PostgreSQL 14+)"
                )
                return verdict.exempted(ifCreated: table, in: state)
            }
        }
        return genericAction(action, table: table)
    }

    /// An `ALTER TABLE` action no rule flags, with the lock PostgreSQL 15 takes for it.
    func genericAction(_ action: ArraySlice<SQLToken>, table: QualifiedName) -> Verdict {
        let cursor = TokenCursor(action)
        let lock: String
        if (cursor.at("set") && cursor.peek(1)?.isSymbol("(") == true) || cursor.at("reset")
            || cursor.at("cluster", "on") || cursor.at("set", "without")
            || cursor.at("attach", "partition") || cursor.at("validate")
            || (cursor.at("alter") && action.contains { $0.isKeyword("statistics") })
            || (cursor.at("detach") && action.contains { $0.isKeyword("concurrently") })
        {
            lock = Lock.shareUpdateExclusive
        } else if (cursor.at("enable") || cursor.at("disable"))
            && action.dropFirst().first?.isKeyword("trigger") == true
        {
            lock = Lock.shareRowExclusive
        } else {
            lock = Lock.accessExclusive
        }
        return Verdict(
            .statement, "ALTER TABLE \(table) \(Self.words(action))",
            advice: "catalog-only change, deploy directly", lock: lock
        )
    }

    /// `RENAME [COLUMN] a TO b`, `RENAME TO name`, `RENAME CONSTRAINT a TO b`.
    private mutating func analyzeRename(_ start: TokenCursor, table: QualifiedName) -> Verdict {
        var cursor = start
        cursor.accept("rename")
        if cursor.accept("to") {
            let newName = cursor.identifier() ?? "?"
            var verdict = Verdict(
                .renameTable, "ALTER TABLE \(table) RENAME TO \(newName)",
                advice: Self.renameTableAdvice(table, to: newName)
            )
            .exempted(ifCreated: table, in: state)
            if verdict.risk > .low { verdict.alias = state.renamedInTransaction(table: table, to: newName) }
            state.renamed(table: table, to: newName)
            return verdict
        }
        if cursor.at("constraint") { return genericAction(cursor.rest, table: table) }
        cursor.accept("column")
        let column = cursor.identifier() ?? "?"
        cursor.accept("to")
        let newName = cursor.identifier() ?? "?"
        var verdict = Verdict(
            .renameColumn, "RENAME COLUMN \(column) TO \(newName) on \(table)",
            advice: "running code that uses \(column) fails as soon as it commits; alias pattern: add \(newName) "
                + "beside \(column) and keep both in sync (a trigger, or a view exposing both names), move "
                + "readers and writers to \(newName), then drop \(column) in a later phase"
        )
        .exempted(ifCreated: table, in: state)
        if state.isAdded(column, to: table) {
            verdict = verdict.exempted(because: "\(column) is added in this change, so no running code uses it yet")
        }
        state.renamed(column: column, in: table, to: newName)
        return verdict
    }

    static func renameTableAdvice(_ table: QualifiedName, to newName: String) -> String {
        "every running query that names \(table) fails as soon as it commits; alias pattern: in the same "
            + "transaction, CREATE VIEW \(table) AS SELECT * FROM \(newName) (simple views are updatable), move "
            + "the application to the new name, then drop the view in a later phase"
    }

    /// The action's leading words as written, for messages: `ALTER COLUMN email SET NOT NULL`.
    static func words(_ action: ArraySlice<SQLToken>) -> String {
        let leading = action.prefix { $0.kind == .word || $0.kind == .quotedIdentifier }.prefix(6)
        return leading.sourceText
    }
}
