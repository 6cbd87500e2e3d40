extension StatementAnalyzer {
    /// `ADD [CONSTRAINT name] CHECK | UNIQUE | PRIMARY KEY | FOREIGN KEY | EXCLUDE … [NOT VALID]`.
    mutating func analyzeAddConstraint(_ start: TokenCursor, table: QualifiedName) -> Verdict {
        var cursor = start
        var name: String?
        if cursor.accept("constraint") { name = cursor.identifier() }
        let rest = cursor.rest
        let notValid = zip(rest, rest.dropFirst()).contains { $0.isKeyword("not") && $1.isKeyword("valid") }
        let label = name.map { "ADD CONSTRAINT \($0)" } ?? "ADD"
        let verdict: Verdict
        if cursor.accept("check") {
            let body = cursor.parenthesized() ?? []
            let checkedColumn = Self.notNullCheckColumn(body)
            let constraint = name ?? checkedColumn.map { "\(table.name)_\($0)_check" }
            if let checkedColumn, let constraint {
                state.addedNotNullCheck(constraint: constraint, column: checkedColumn, on: table, validated: !notValid)
            }
            verdict = addValidatedConstraint(
                .addCheckConstraint, "\(label) CHECK (…) on \(table)", name: constraint, notValid: notValid,
                table: table, lock: Lock.accessExclusive
            )
        } else if cursor.accept("foreign", "key") {
            cursor.parenthesized()
            cursor.accept("references")
            let referenced = cursor.qualifiedName().map(\.description) ?? "?"
            verdict = addValidatedConstraint(
                .addForeignKey, "\(label) FOREIGN KEY … REFERENCES \(referenced) on \(table)", name: name,
                notValid: notValid, table: table, lock: Lock.shareRowExclusive
            )
        } else if cursor.at("unique") || cursor.at("primary", "key") {
            let kind = cursor.accept("unique") ? "UNIQUE" : "PRIMARY KEY"
            cursor.accept("primary", "key")
            if cursor.accept("using", "index"), !cursor.at("tablespace") {
                let index = cursor.identifier() ?? "?"
                if kind == "PRIMARY KEY" {
                    var pk = Verdict(
                        .addPrimaryKeyUsingIndex, "\(label) PRIMARY KEY USING INDEX \(index) on \(table)",
                        advice: "it adopts the index, but unless the index's columns are already NOT NULL PostgreSQL "
                            + "sets them NOT NULL and scans every row of \(table) under ACCESS EXCLUSIVE; validation "
                            + "then enforcement first: CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, "
                            + "SET NOT NULL, then ADD … PRIMARY KEY USING INDEX \(index)"
                    )
                    if state.hasNotNullColumns(index: index, on: table) {
                        pk = pk.exempted(
                            because: "the columns of \(index) are NOT NULL already, so it adopts the index without "
                                + "a scan: a catalog-only change")
                    }
                    verdict = pk
                } else {
                    verdict = Verdict(
                        .addConstraintUsingIndex, "\(label) UNIQUE USING INDEX \(index) on \(table)",
                        advice: "adopts the index without building it, a catalog-only change"
                    )
                }
            } else {
                var nulls = cursor
                nulls.accept("nulls", "not", "distinct")
                nulls.accept("nulls", "distinct")
                let columns = nulls.parenthesized().map { $0.map(\.text).joined() } ?? "…"
                let index = "\(table.name)_\(columns.replacing(",", with: "_"))_\(kind == "UNIQUE" ? "key" : "pkey")"
                verdict = Verdict(
                    kind == "UNIQUE" ? .addUniqueConstraint : .addPrimaryKey,
                    "\(label) \(kind) (\(columns)) on \(table)",
                    advice: "the index is built while \(table) is locked ACCESS EXCLUSIVE; online index creation: "
                        + "CREATE UNIQUE INDEX CONCURRENTLY \(index) ON \(table) (\(columns)) in a phase with "
                        + "`transaction: none`, then ALTER TABLE \(table) ADD CONSTRAINT \(name ?? index) \(kind) "
                        + "USING INDEX \(index)"
                )
            }
        } else if cursor.accept("exclude") {
            verdict = Verdict(
                .addExclusionConstraint, "\(label) EXCLUDE … on \(table)",
                advice: "its index is built under ACCESS EXCLUSIVE and PostgreSQL can neither build it concurrently "
                    + "nor attach one with USING INDEX: no online path; do it in a maintenance window, or on a new "
                    + "table filled in a backfill phase"
            )
        } else {
            return genericAction(start.rest, table: table)
        }
        return verdict.exempted(ifCreated: table, in: state)
    }

    /// CHECK and FOREIGN KEY: NOT VALID is the safe half of validation then enforcement.
    private mutating func addValidatedConstraint(
        _ rule: RuleDescription, _ what: String, name: String?, notValid: Bool, table: QualifiedName, lock: String
    ) -> Verdict {
        let constraint = name ?? "<name>"
        guard notValid else {
            let blocked = rule == .addForeignKey ? "writes to both tables are blocked" : "\(table) is locked"
            return Verdict(
                rule, what,
                advice: "every existing row is checked while \(blocked); validation then enforcement: add it with "
                    + "NOT VALID (new rows are checked at once), then ALTER TABLE \(table) VALIDATE CONSTRAINT "
                    + "\(constraint) in a later phase or transaction"
            )
        }
        if let name { state.addedNotValid(constraint: name, on: table) }
        return Verdict(
            .addConstraintNotValid, "\(what) NOT VALID",
            advice: "checks new rows only, no scan; follow with ALTER TABLE \(table) VALIDATE CONSTRAINT "
                + "\(constraint) in a later phase or transaction",
            lock: lock
        )
    }

    /// `VALIDATE CONSTRAINT name`: safe on its own, not in the transaction that added it.
    mutating func analyzeValidate(_ start: TokenCursor, table: QualifiedName) -> Verdict {
        var cursor = start
        let name = cursor.identifier() ?? "?"
        let what = "VALIDATE CONSTRAINT \(name) on \(table)"
        let verdict: Verdict
        if state.wasAddedNotValidInThisTransaction(name, on: table) {
            verdict = Verdict(
                .validateConstraintInTransaction, what,
                advice: "it runs in the transaction that added \(name) NOT VALID, so the ADD's lock is held for the "
                    + "whole scan; move VALIDATE CONSTRAINT to a later phase (or commit in between)"
            )
        } else {
            verdict = Verdict(
                .validateConstraint, what, advice: "scans the table without blocking reads or writes"
            )
        }
        state.validated(constraint: name, on: table)
        return verdict.exempted(ifCreated: table, in: state)
    }

    /// `DROP CONSTRAINT [IF EXISTS] name [CASCADE | RESTRICT]`.
    mutating func analyzeDropConstraint(_ start: TokenCursor, table: QualifiedName) -> Verdict {
        var cursor = start
        cursor.accept("if", "exists")
        let name = cursor.identifier() ?? "?"
        var verdict = Verdict(
            .dropConstraint, "DROP CONSTRAINT \(name) on \(table)",
            advice: "the guarantee (and a UNIQUE or PRIMARY KEY's index) disappears for every tenant at once; make "
                + "sure no code relies on it, and drop it in a phase of its own"
        )
        .exempted(ifCreated: table, in: state)
        if state.isRedundantNotNullCheck(name, on: table) {
            verdict = verdict.exempted(because: "the column is SET NOT NULL in this change, so the check is redundant")
        }
        state.dropped(constraint: name, on: table)
        return verdict
    }

    /// The column of `CHECK (column IS NOT NULL)`, nil for any other check.
    static func notNullCheckColumn(_ body: ArraySlice<SQLToken>) -> String? {
        var tokens = Array(body)
        while tokens.count >= 2, tokens.first!.isSymbol("("), tokens.last!.isSymbol(")") {
            tokens = Array(tokens.dropFirst().dropLast())
        }
        guard tokens.count == 4, tokens[1].isKeyword("is"), tokens[2].isKeyword("not"), tokens[3].isKeyword("null")
        else { return nil }
        return tokens[0].identifier
    }
}
