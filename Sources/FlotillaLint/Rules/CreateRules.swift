extension StatementAnalyzer {
    /// `CREATE …`: indexes are judged; tables, materialized views and schemas are remembered as created in
    /// this change; `CREATE DATABASE` / `TABLESPACE` cannot run in a transaction block.
    mutating func analyzeCreate(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("create")
        cursor.accept("or", "replace")
        if cursor.at("index") || cursor.at("unique", "index") { return analyzeCreateIndex(cursor) }
        if cursor.accept("materialized", "view") {
            cursor.accept("if", "not", "exists")
            if let name = cursor.qualifiedName() { state.created(table: name) }
            return []
        }
        if cursor.accept("schema") {
            cursor.accept("if", "not", "exists")
            if cursor.accept("authorization") {
                if let role = cursor.identifier() { state.created(schema: role) }
            } else if let name = cursor.identifier() {
                state.created(schema: name)
            }
            return []
        }
        if cursor.accept("domain") { return analyzeCreateDomain(cursor) }
        if cursor.at("view") || cursor.at("temporary", "view") || cursor.at("temp", "view")
            || cursor.at("recursive", "view")
        {
            analyzeCreateView(cursor)
            return []
        }
        if cursor.at("database") { return noTransactionBlock("CREATE DATABASE") }
        if cursor.at("tablespace") { return noTransactionBlock("CREATE TABLESPACE") }
        _ = cursor.accept("global") || cursor.accept("local")
        _ = cursor.accept("temporary") || cursor.accept("temp") || cursor.accept("unlogged")
        if cursor.accept("table") {
            cursor.accept("if", "not", "exists")
            guard let table = cursor.qualifiedName() else { return [] }
            state.created(table: table)
            if let elements = cursor.parenthesized() {
                declareColumns(elements, of: table)
            }
        }
        return []
    }

    /// `CREATE [OR REPLACE] [TEMP] [RECURSIVE] VIEW name [(columns)] AS query`: remembered for the alias pattern.
    private mutating func analyzeCreateView(_ start: TokenCursor) {
        var cursor = start
        _ = cursor.accept("temporary") || cursor.accept("temp")
        cursor.accept("recursive")
        cursor.accept("view")
        guard let view = cursor.qualifiedName() else { return }
        let read = Set(
            cursor.rest.compactMap { $0.kind == .word || $0.kind == .quotedIdentifier ? $0.identifier : nil })
        state.createdView(view, reading: read)
    }

    /// Remembers the declared type of each column of a `CREATE TABLE`.
    private mutating func declareColumns(_ elements: ArraySlice<SQLToken>, of table: QualifiedName) {
        let tableConstraintWords = ["constraint", "check", "unique", "primary", "foreign", "exclude", "like"]
        for element in elements.splitAtTopLevelCommas() {
            var cursor = TokenCursor(element)
            guard let first = cursor.current, !tableConstraintWords.contains(where: { first.isKeyword($0) }),
                let column = cursor.identifier(), let type = ColumnType.parse(&cursor)
            else { continue }
            state.declare(column, in: table, as: type)
        }
    }

    /// `CREATE [UNIQUE] INDEX [CONCURRENTLY] [[IF NOT EXISTS] name] ON [ONLY] table …`
    private mutating func analyzeCreateIndex(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        let unique = cursor.accept("unique")
        cursor.accept("index")
        let concurrently = cursor.accept("concurrently")
        var index: QualifiedName?
        if cursor.accept("if", "not", "exists") || !cursor.at("on") {
            index = cursor.qualifiedName()
        }
        guard cursor.accept("on") else { return [] }
        cursor.accept("only")
        guard let table = cursor.qualifiedName() else { return [] }
        let kind = unique ? "CREATE UNIQUE INDEX" : "CREATE INDEX"
        let what = "\(kind)\(concurrently ? " CONCURRENTLY" : "")\(index.map { " \($0)" } ?? "") on \(table)"
        if concurrently, let refused = concurrentlyInTransaction(what) { return [refused] }
        if state.isCreated(table), let index {
            state.created(index: QualifiedName(parts: (table.schema.map { [$0] } ?? []) + [index.name]))
        }
        if let index, let columns = Self.plainColumns(cursor) {
            state.indexed(index.name, on: table, columns: columns)
        }
        let verdict =
            concurrently
            ? Verdict(
                .createIndexConcurrently, what,
                advice: "builds without blocking reads or writes; if the build fails it leaves an INVALID "
                    + "index to drop before retrying"
            )
            : Verdict(
                .createIndex, what,
                advice: "it blocks every write to \(table) (SHARE lock) for the whole build; use "
                    + "\(kind) CONCURRENTLY … in a phase with `transaction: none`"
            )
        return [verdict.exempted(ifCreated: table, in: state)]
    }

    /// The columns of `[USING method] (a, b)` when each is a plain column name; nil for expressions.
    private static func plainColumns(_ start: TokenCursor) -> [String]? {
        var cursor = start
        if cursor.accept("using") { cursor.advance() }
        guard let list = cursor.parenthesized() else { return nil }
        var columns: [String] = []
        for element in list.splitAtTopLevelCommas() {
            guard let first = element.first, first.kind == .word || first.kind == .quotedIdentifier,
                let name = first.identifier,
                element.dropFirst().allSatisfy({ $0.isKeyword("asc") || $0.isKeyword("desc") })
            else { return nil }
            columns.append(name)
        }
        return columns.isEmpty ? nil : columns
    }
}
