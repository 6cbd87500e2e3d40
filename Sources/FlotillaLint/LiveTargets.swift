/// What a change's statements touch, in the detail the live schema can judge: the table each statement rewrites or
/// scans, the column type changes, the `SET NOT NULL`s and the foreign keys, each with its position in the file.
struct LiveTargets {
    /// A 1-based line and column in a file, offsets applied, as findings carry them.
    struct Position: Comparable, Hashable {
        var line: Int
        var column: Int

        static func < (lhs: Position, rhs: Position) -> Bool {
            (lhs.line, lhs.column) < (rhs.line, rhs.column)
        }
    }

    enum Kind: Hashable {
        /// `ALTER COLUMN c TYPE t`; `changedBefore` when an earlier statement of the change declared or changed `c`.
        case alterType(column: String, type: ColumnType?, using: Bool, changedBefore: Bool)
        case setNotNull(column: String)
        /// `ADD [CONSTRAINT …] FOREIGN KEY (cols) REFERENCES …` or `ADD COLUMN c … REFERENCES …`; `indexedBefore`
        /// when an earlier `CREATE INDEX` of the change leads with the columns.
        case foreignKey(columns: [String], references: String, indexedBefore: Bool)
    }

    struct Action {
        var kind: Kind
        var start: Position
        var end: Position
    }

    struct Statement {
        var file: String
        var phase: String?
        var start: Position
        var end: Position
        /// The table the statement changes, rewrites or scans.
        var table: QualifiedName?
        /// The table was created earlier in the change: nothing live to judge.
        var createdInChange: Bool
        var actions: [Action]
        var summary: String
        /// Why `fk-without-index` is acknowledged for this statement (`-- flotilla:ignore fk-without-index why`, or the
        /// phase's `ignore:`), if it is.
        var foreignKeyAcknowledged: String?

        func contains(_ position: Position) -> Bool { start <= position && position <= end }

        /// The action at `position`, or the only action for which `matches` holds.
        func action(at position: Position, where matches: (Kind) -> Bool) -> Action? {
            let candidates = actions.filter { matches($0.kind) }
            return candidates.first { $0.start <= position && position <= $0.end }
                ?? (candidates.count == 1 ? candidates[0] : nil)
        }
    }

    var statements: [Statement] = []

    /// The names (last part) of the existing tables the change touches, in first-use order.
    var tables: [String] {
        var seen: Set<String> = []
        return statements.compactMap { statement in
            guard !statement.createdInChange, let name = statement.table?.name, seen.insert(name).inserted
            else { return nil }
            return name
        }
    }

    init(_ inputs: [LintInput]) {
        var created: Set<String> = []
        var changedColumns: Set<[String]> = []
        var indexes: [String: [[String]]] = [:]
        for input in inputs {
            let lexedInput = SQLLexer.lex(input.sql)
            var acknowledged: [Int: String] = [:]
            for directive in lexedInput.comments.compactMap(IgnoreDirective.parse)
            where !directive.reason.isEmpty && directive.rules.contains(RuleDescription.foreignKeyWithoutIndex.id) {
                if let index = IgnoreDirective.statementIndex(for: directive.comment, in: lexedInput.statements) {
                    acknowledged[index] = directive.reason
                }
            }
            let phaseAcknowledged = input.ignores.first {
                SQLToken.fold($0.rule) == RuleDescription.foreignKeyWithoutIndex.id && !$0.reason.trimmingBlanks.isEmpty
            }?.reason
            for (statementIndex, lexed) in lexedInput.statements.enumerated() {
                let tokens = lexed.tokens
                guard let first = tokens.first, let last = tokens.last else { continue }
                func position(_ token: SQLToken) -> Position {
                    Position(line: token.line + input.lineOffset, column: token.column + input.columnOffset)
                }
                var statement = Statement(
                    file: input.file, phase: input.phase, start: position(first), end: position(last), table: nil,
                    createdInChange: false, actions: [], summary: Linter.summary(lexed.statement.text),
                    foreignKeyAcknowledged: acknowledged[statementIndex] ?? phaseAcknowledged)
                var cursor = TokenCursor(tokens)
                if cursor.accept("alter", "table") {
                    cursor.accept("if", "exists")
                    cursor.accept("only")
                    statement.table = cursor.qualifiedName()
                    cursor.acceptSymbol("*")
                    if let table = statement.table?.name {
                        for action in cursor.rest.splitAtTopLevelCommas() {
                            guard
                                let kind = Self.kind(
                                    of: action, table: table, changed: changedColumns, indexes: indexes)
                            else { continue }
                            if case .alterType(let column, _, _, _) = kind { changedColumns.insert([table, column]) }
                            if let head = action.first, let tail = action.last {
                                statement.actions.append(Action(kind: kind, start: position(head), end: position(tail)))
                            }
                        }
                        for action in cursor.rest.splitAtTopLevelCommas() {
                            var words = TokenCursor(action)
                            guard words.accept("add") else { continue }
                            words.accept("column")
                            words.accept("if", "not", "exists")
                            if let column = words.identifier() { changedColumns.insert([table, column]) }
                        }
                    }
                } else if cursor.accept("create") {
                    cursor.accept("unique")
                    if cursor.accept("index") {
                        cursor.accept("concurrently")
                        cursor.accept("if", "not", "exists")
                        if !cursor.at("on") { _ = cursor.qualifiedName() }
                        if cursor.accept("on") {
                            cursor.accept("only")
                            statement.table = cursor.qualifiedName()
                            if cursor.accept("using") { _ = cursor.identifier() }
                            if let table = statement.table?.name, let inside = cursor.parenthesized() {
                                let columns = inside.splitAtTopLevelCommas().map { part -> String in
                                    part.count == 1 ? part.first?.identifier ?? "" : ""
                                }
                                indexes[table, default: []].append(columns)
                            }
                        }
                    } else {
                        for word in ["global", "local", "temporary", "temp", "unlogged"] { cursor.accept(word) }
                        if cursor.accept("table") {
                            cursor.accept("if", "not", "exists")
                            if let name = cursor.qualifiedName()?.name { created.insert(name) }
                        }
                    }
                } else if cursor.accept("update") {
                    cursor.accept("only")
                    statement.table = cursor.qualifiedName()
                } else if cursor.accept("delete", "from") {
                    cursor.accept("only")
                    statement.table = cursor.qualifiedName()
                } else if cursor.accept("vacuum") || cursor.accept("cluster") {
                    cursor.parenthesized()
                    for word in ["full", "freeze", "verbose", "analyze"] { cursor.accept(word) }
                    statement.table = cursor.qualifiedName()
                } else if cursor.accept("reindex") {
                    cursor.parenthesized()
                    if cursor.accept("table") {
                        cursor.accept("concurrently")
                        statement.table = cursor.qualifiedName()
                    }
                }
                if let name = statement.table?.name, created.contains(name) { statement.createdInChange = true }
                statements.append(statement)
            }
        }
    }

    /// The kind of one `ALTER TABLE` action that the live schema judges, or nil.
    private static func kind(
        of action: ArraySlice<SQLToken>, table: String, changed: Set<[String]>, indexes: [String: [[String]]]
    ) -> Kind? {
        var cursor = TokenCursor(action)
        if cursor.accept("alter"), !cursor.at("constraint") {
            cursor.accept("column")
            guard let column = cursor.identifier() else { return nil }
            if cursor.accept("set", "data", "type") || cursor.accept("type") {
                let type = ColumnType.parse(&cursor)
                return .alterType(
                    column: column, type: type, using: cursor.rest.containsTopLevelKeyword("using"),
                    changedBefore: changed.contains([table, column]))
            }
            if cursor.accept("set", "not", "null") { return .setNotNull(column: column) }
            return nil
        }
        guard cursor.accept("add") else { return nil }
        func indexed(_ columns: [String]) -> Bool {
            (indexes[table] ?? []).contains { index in
                index.count >= columns.count && Set(index.prefix(columns.count)) == Set(columns)
            }
        }
        if cursor.accept("constraint") { _ = cursor.identifier() }
        if cursor.accept("foreign", "key") {
            guard let inside = cursor.parenthesized() else { return nil }
            let columns = inside.splitAtTopLevelCommas().compactMap { $0.count == 1 ? $0.first?.identifier : nil }
            guard cursor.accept("references"), let referenced = cursor.qualifiedName(), !columns.isEmpty else {
                return nil
            }
            return .foreignKey(columns: columns, references: referenced.description, indexedBefore: indexed(columns))
        }
        let constraintWords = ["check", "unique", "primary", "exclude"]
        if let next = cursor.current, constraintWords.contains(where: { next.isKeyword($0) }) { return nil }
        cursor.accept("column")
        cursor.accept("if", "not", "exists")
        guard let column = cursor.identifier() else { return nil }
        while let token = cursor.current, !token.isKeyword("references") { cursor.skipTerm() }
        guard cursor.accept("references"), let referenced = cursor.qualifiedName() else { return nil }
        return .foreignKey(columns: [column], references: referenced.description, indexedBefore: indexed([column]))
    }
}
