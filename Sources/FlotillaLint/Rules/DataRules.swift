extension StatementAnalyzer {
    /// `UPDATE` / `DELETE` (possibly after a `WITH` clause) without a `WHERE` that restricts anything.
    mutating func analyzeData() -> [Verdict] {
        guard let main = tokens.first?.isKeyword("with") == true ? Self.mainVerb(of: tokens) : 0 else { return [] }
        var cursor = TokenCursor(tokens, position: main)
        let verb: String
        if cursor.accept("update") {
            verb = "UPDATE"
        } else if cursor.accept("delete", "from") {
            verb = "DELETE"
        } else {
            return []
        }
        cursor.accept("only")
        guard let table = cursor.qualifiedName() else { return [] }
        let body = cursor.rest
        if let condition = Self.whereCondition(body), !Self.isTautology(condition) { return [] }
        let verdict = Verdict(
            .unbatchedUpdate, "\(verb) of every row of \(table) in one statement",
            advice: "it locks every row in one long transaction, bloats the table and delays replicas; "
                + "use a backfill phase (`backfill: {table: \(table.name), set: …, where: …, batch_size: 1000}`) "
                + "that changes the rows in short batches",
            at: tokens[main]
        )
        return [verdict.exempted(ifCreated: table, in: state)]
    }

    /// The tokens after a top-level `WHERE` (up to `RETURNING`), nil when there is none.
    static func whereCondition(_ tokens: ArraySlice<SQLToken>) -> ArraySlice<SQLToken>? {
        var depth = 0
        var start: Int?
        for i in tokens.indices {
            let token = tokens[i]
            if token.isSymbol("(") {
                depth += 1
            } else if token.isSymbol(")") {
                depth -= 1
            } else if depth == 0 {
                if start == nil, token.isKeyword("where") {
                    start = i + 1
                } else if let start, token.isKeyword("returning") {
                    return tokens[start..<i]
                }
            }
        }
        guard let start else { return nil }
        return tokens[start...]
    }

    /// `WHERE true`, `WHERE 1 = 1`, `WHERE 't'`, and the same in parentheses.
    static func isTautology(_ condition: ArraySlice<SQLToken>) -> Bool {
        var slice = condition
        while slice.count >= 2, slice.first!.isSymbol("("), slice.last!.isSymbol(")") {
            slice = slice.dropFirst().dropLast()
        }
        let tokens = Array(slice)
        if tokens.count == 1 {
            return tokens[0].isKeyword("true") || ["'t'", "'true'"].contains(tokens[0].text.lowercased())
        }
        guard tokens.count == 3, tokens[1].isSymbol("=") else { return false }
        return (tokens[0].kind == .number || tokens[0].kind == .string) && tokens[0].text == tokens[2].text
    }
}
