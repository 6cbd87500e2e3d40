extension StatementAnalyzer {
    /// `DROP TABLE`, `DROP SCHEMA`, `DROP INDEX`, `DROP MATERIALIZED VIEW`, `DROP DATABASE`.
    mutating func analyzeDrop(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("drop")
        if cursor.accept("table") { return dropTables(cursor) }
        if cursor.accept("index") { return dropIndexes(cursor) }
        if cursor.accept("schema") { return dropSchemas(cursor) }
        if cursor.accept("materialized", "view") {
            cursor.accept("if", "exists")
            for name in Self.nameList(&cursor) { state.dropped(table: name) }
            return []
        }
        if cursor.accept("database") {
            let refused = noTransactionBlock("DROP DATABASE")
            if !refused.isEmpty { return refused }
            cursor.accept("if", "exists")
            let name = cursor.identifier() ?? "?"
            return [
                Verdict(
                    .dropDatabase, "DROP DATABASE \(name)",
                    advice: "every table in it is gone with its data, and in a database-per-tenant fleet so is the "
                        + "tenant whose `database:` is \(name); it fails while anyone is connected (WITH (FORCE) "
                        + "disconnects them); deprecation pattern: stop using it, take it out of the fleet, then drop "
                        + "it outside the rollout"
                )
            ]
        }
        if cursor.at("tablespace") { return noTransactionBlock("DROP TABLESPACE") }
        return []
    }

    /// `TRUNCATE [TABLE] [ONLY] name [*], …`
    mutating func analyzeTruncate(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("truncate")
        cursor.accept("table")
        let names = Self.nameList(&cursor)
        let existing = names.filter { !state.isCreated($0) }
        let verdict = Verdict(
            .truncate, "TRUNCATE \(Self.list(names))",
            advice: "it removes every row at once under ACCESS EXCLUSIVE and no `down` can bring them back; "
                + "deprecation pattern: stop reading and writing the data first, then remove it in a gated "
                + "contract phase (or DELETE in batches in a backfill phase)"
        )
        return [existing.isEmpty && !names.isEmpty ? verdict.exempted(ifCreated: names[0], in: state) : verdict]
    }

    /// `REINDEX [(options)] {INDEX|TABLE|SCHEMA|DATABASE|SYSTEM} [CONCURRENTLY] name`
    mutating func analyzeReindex(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("reindex")
        let options = cursor.parenthesized().map(Array.init) ?? []
        let target = cursor.advance()?.text.uppercased() ?? ""
        let concurrently = cursor.accept("concurrently") || options.contains { $0.isKeyword("concurrently") }
        let name = cursor.qualifiedName()
        if target == "DATABASE" || target == "SYSTEM" {
            let refused = noTransactionBlock("REINDEX \(target)")
            if !refused.isEmpty { return refused }
        }
        let what = "REINDEX \(target)\(concurrently ? " CONCURRENTLY" : "")\(name.map { " \($0)" } ?? "")"
        if concurrently {
            if let refused = concurrentlyInTransaction(what) { return [refused] }
            return [Verdict(.reindexConcurrently, what, advice: "rebuilds without blocking reads or writes")]
        }
        var verdict = Verdict(
            .reindex, what,
            advice: "it blocks writes to the table, and reads that use the index, for the whole rebuild; "
                + "use REINDEX … CONCURRENTLY in a phase with `transaction: none`"
        )
        if let name, target == "TABLE" {
            verdict = verdict.exempted(ifCreated: name, in: state)
        } else if let name, target == "INDEX", state.isCreatedIndex(name) {
            verdict = verdict.exempted(because: "\(name) is created in this change on a table created in this change")
        }
        return [verdict]
    }

    /// The `concurrently-in-transaction` error when the statement runs inside a transaction block.
    func concurrentlyInTransaction(_ what: String) -> Verdict? {
        guard state.isInTransaction else { return nil }
        return Verdict(
            .concurrentlyInTransaction, "\(what) inside a transaction block",
            advice: "PostgreSQL rejects it (SQLSTATE 25001: cannot run inside a transaction block); "
                + "put it in its own phase with `transaction: none`, outside BEGIN … COMMIT"
        )
    }

    private mutating func dropTables(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("if", "exists")
        let names = Self.nameList(&cursor)
        let existing = names.filter { !state.isCreated($0) }
        var verdict = Verdict(
            .dropTable, "DROP TABLE \(Self.list(names))",
            advice: "running code that still reads or writes it fails at once and the data is gone; "
                + "deprecation pattern: stop using the table in the application, deploy, then drop it in a "
                + "gated contract phase (or rename it aside first so a revert is possible)"
        )
        if existing.isEmpty, let first = names.first { verdict = verdict.exempted(ifCreated: first, in: state) }
        for name in names { state.dropped(table: name) }
        return [verdict]
    }

    private mutating func dropIndexes(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        let concurrently = cursor.accept("concurrently")
        cursor.accept("if", "exists")
        let names = Self.nameList(&cursor)
        let what = "DROP INDEX\(concurrently ? " CONCURRENTLY" : "") \(Self.list(names))"
        if concurrently, let refused = concurrentlyInTransaction(what) { return [refused] }
        var verdict =
            concurrently
            ? Verdict(.dropIndexConcurrently, what, advice: "waits for running queries without blocking new ones")
            : Verdict(
                .dropIndex, what,
                advice: "it takes ACCESS EXCLUSIVE on the table, queued behind every running query; "
                    + "use DROP INDEX CONCURRENTLY in a phase with `transaction: none`"
            )
        if !names.isEmpty, names.allSatisfy({ state.isCreatedIndex($0) }) {
            verdict = verdict.exempted(because: "the index is on a table created in this change")
        }
        return [verdict]
    }

    private mutating func dropSchemas(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("if", "exists")
        let names = Self.nameList(&cursor).map(\.name)
        var verdict = Verdict(
            .dropSchema, "DROP SCHEMA \(names.joined(separator: ", "))",
            advice: "every table, view and function in it disappears at once; deprecation pattern: stop using "
                + "its objects, deploy, then drop it in a gated contract phase"
        )
        if !names.isEmpty, names.allSatisfy({ state.isCreatedSchema($0) }) {
            verdict = verdict.exempted(because: "the schema is created in this change")
        }
        return [verdict]
    }

    /// `name [*], name [*], …` up to CASCADE / RESTRICT / the end.
    static func nameList(_ cursor: inout TokenCursor) -> [QualifiedName] {
        var names: [QualifiedName] = []
        while !cursor.isAtEnd {
            cursor.accept("only")
            guard let name = cursor.qualifiedName() else { break }
            names.append(name)
            cursor.acceptSymbol("*")
            guard cursor.acceptSymbol(",") else { break }
        }
        return names
    }

    static func list(_ names: [QualifiedName]) -> String {
        names.map(\.description).joined(separator: ", ")
    }
}
