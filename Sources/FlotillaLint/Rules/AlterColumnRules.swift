extension StatementAnalyzer {
    /// `ALTER [COLUMN] name …`: TYPE, SET/DROP NOT NULL, SET/DROP DEFAULT, and the rest.
    mutating func analyzeAlterColumn(
        _ start: TokenCursor, column: String, table: QualifiedName, action: ArraySlice<SQLToken>
    ) -> Verdict {
        var cursor = start
        if cursor.accept("set", "data", "type") || cursor.accept("type") {
            return analyzeTypeChange(cursor, column: column, table: table)
        }
        if cursor.accept("set", "not", "null") {
            var verdict = Verdict(
                .setNotNull, "ALTER COLUMN \(column) SET NOT NULL on \(table)",
                advice: "it scans every row of \(table) under ACCESS EXCLUSIVE; validation then enforcement: "
                    + "ADD CONSTRAINT \(column)_not_null CHECK (\(column) IS NOT NULL) NOT VALID; VALIDATE "
                    + "CONSTRAINT \(column)_not_null in a later transaction; then SET NOT NULL (no scan, the "
                    + "validated check proves it); then DROP CONSTRAINT \(column)_not_null"
            )
            if state.isProvenNotNull(column, in: table) {
                verdict = verdict.exempted(
                    because: "a validated CHECK (\(column) IS NOT NULL) proves it, so PostgreSQL skips the scan"
                )
            }
            state.setNotNull(column, in: table)
            return verdict.exempted(ifCreated: table, in: state)
        }
        if cursor.accept("drop", "not", "null") {
            return Verdict(
                .dropNotNull, "ALTER COLUMN \(column) DROP NOT NULL on \(table)",
                advice: "running code that assumes \(column) is never NULL breaks once NULLs are written; deploy "
                    + "code that handles NULL first, then drop the constraint"
            )
            .exempted(ifCreated: table, in: state)
        }
        if cursor.accept("drop", "default") {
            return Verdict(
                .dropDefault, "ALTER COLUMN \(column) DROP DEFAULT on \(table)",
                advice: "running INSERTs that omit \(column) start writing NULL (or fail on NOT NULL); make every "
                    + "writer set \(column) first, then drop the default in a later phase"
            )
            .exempted(ifCreated: table, in: state)
        }
        if cursor.at("set", "default") {
            return Verdict(
                .statement, "ALTER COLUMN \(column) SET DEFAULT on \(table)",
                advice: "applies to new rows only, a catalog-only change", lock: Lock.accessExclusive
            )
        }
        return genericAction(action, table: table)
    }

    /// `ALTER COLUMN c [SET DATA] TYPE t [COLLATE …] [USING …]`.
    private mutating func analyzeTypeChange(_ start: TokenCursor, column: String, table: QualifiedName) -> Verdict {
        var cursor = start
        guard let newType = ColumnType.parse(&cursor) else {
            return Verdict(.alterColumnType, "ALTER COLUMN \(column) TYPE on \(table)")
        }
        let using = cursor.rest.containsTopLevelKeyword("using")
        let oldType = state.type(of: column, in: table)
        let compatible: Bool
        if using {
            compatible = false
        } else if let oldType {
            compatible = ColumnType.isBinaryCoercible(from: oldType, to: newType)
        } else {
            compatible = ColumnType.isSafeTarget(whenOldTypeIsUnknown: newType)
        }
        state.declare(column, in: table, as: newType)
        let from = oldType.map { " (from \($0))" } ?? ""
        let what = "ALTER COLUMN \(column) TYPE \(newType) on \(table)\(from)"
        let verdict: Verdict
        if compatible {
            verdict = Verdict(
                .alterColumnTypeCompatible, what,
                advice: "binary-coercible, so PostgreSQL changes the catalog without rewriting the table"
            )
        } else {
            let why =
                using
                ? "a USING expression"
                : oldType == nil
                    ? "the old type is not declared in this change and \(newType) is binary-coercible only from "
                        + "narrower string types, so assume it"
                    : "the change is not binary-coercible, so it"
            verdict = Verdict(
                .alterColumnType, what,
                advice: "\(why) rewrites \(table) and all its indexes under ACCESS EXCLUSIVE; shadow column "
                    + "pattern: add \(column)_new \(newType), keep it in sync with a trigger, fill it in a "
                    + "backfill phase, switch readers and writers to it, then drop \(column) in a later phase"
            )
        }
        return verdict.exempted(ifCreated: table, in: state)
    }

    /// `DROP [COLUMN] [IF EXISTS] name [CASCADE | RESTRICT]`.
    mutating func analyzeDropColumn(_ start: TokenCursor, table: QualifiedName) -> Verdict {
        var cursor = start
        cursor.accept("column")
        cursor.accept("if", "exists")
        let column = cursor.identifier() ?? "?"
        var verdict = Verdict(
            .dropColumn, "DROP COLUMN \(column) on \(table)",
            advice: "running code that still selects or writes \(column) fails at once; deprecation pattern: stop "
                + "using \(column) in the application (and in ORM models), deploy, then drop it in a gated "
                + "contract phase"
        )
        .exempted(ifCreated: table, in: state)
        if state.isAdded(column, to: table) {
            verdict = verdict.exempted(because: "\(column) is added in this change, so no running code uses it yet")
        }
        state.droppedColumn(column, from: table)
        return verdict
    }
}
