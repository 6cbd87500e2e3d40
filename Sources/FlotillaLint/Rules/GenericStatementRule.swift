extension StatementAnalyzer {
    /// The `statement` verdict for a statement no rule flags, with the lock it takes.
    func generic() -> Verdict {
        let words = tokens.prefix { $0.kind == .word || $0.kind == .quotedIdentifier }.prefix(3)
        let verb = words.isEmpty ? (tokens.first?.text ?? "statement") : words.sourceText
        return Verdict(
            .statement, verb, advice: "no zero-downtime pattern needed, deploy directly", lock: Self.lock(of: tokens)
        )
    }

    /// The strongest table lock PostgreSQL 15 takes for a statement no rule flags.
    static func lock(of tokens: [SQLToken]) -> String {
        var cursor = TokenCursor(tokens)
        if cursor.at("with") {
            // The main statement after the CTEs decides.
            if let main = mainVerb(of: tokens) {
                cursor = TokenCursor(tokens, position: main)
            }
        }
        let containsWord = { (word: String) in tokens.contains { $0.isKeyword(word) } }
        switch true {
        case cursor.at("select"):
            if containsWord("for") && (containsWord("update") || containsWord("share")) { return Lock.rowShare }
            return Lock.accessShare
        case cursor.at("values"), cursor.at("table"), cursor.at("explain"), cursor.at("show"):
            return Lock.accessShare
        case cursor.at("insert"), cursor.at("update"), cursor.at("delete"), cursor.at("merge"):
            return Lock.rowExclusive
        case cursor.at("copy"):
            return containsWord("from") ? Lock.rowExclusive : Lock.accessShare
        case cursor.at("comment"), cursor.at("analyze"), cursor.at("vacuum"), cursor.at("create", "statistics"):
            return Lock.shareUpdateExclusive
        case cursor.at("create", "trigger"), cursor.at("create", "or", "replace", "trigger"),
            cursor.at("create", "constraint", "trigger"):
            return Lock.shareRowExclusive
        case cursor.at("refresh"):
            return containsWord("concurrently") ? Lock.exclusive : Lock.accessExclusive
        case cursor.at("lock"):
            return lockTableMode(tokens)
        case cursor.at("create") && (containsWord("table") || containsWord("view")):
            return containsWord("references") ? Lock.shareRowExclusive : Lock.accessExclusive
        case cursor.at("alter", "table"), cursor.at("alter", "index"), cursor.at("alter", "view"),
            cursor.at("alter", "materialized"), cursor.at("drop"), cursor.at("create", "rule"),
            cursor.at("create", "or", "replace", "rule"), cursor.at("create", "policy"), cursor.at("alter", "policy"):
            return Lock.accessExclusive
        default:
            return Lock.none
        }
    }

    /// `LOCK [TABLE] name IN mode MODE`; ACCESS EXCLUSIVE when no mode is given.
    private static func lockTableMode(_ tokens: [SQLToken]) -> String {
        guard let start = tokens.firstIndex(where: { $0.isKeyword("in") }),
            let end = tokens.lastIndex(where: { $0.isKeyword("mode") }), start + 1 < end
        else { return Lock.accessExclusive }
        return tokens[(start + 1)..<end].map { $0.text.uppercased() }.joined(separator: " ")
    }

    /// The index of the statement's main verb, after any `WITH` clause.
    static func mainVerb(of tokens: [SQLToken]) -> Int? {
        var depth = 0
        for (i, token) in tokens.enumerated() {
            if token.isSymbol("(") {
                depth += 1
            } else if token.isSymbol(")") {
                depth -= 1
            } else if depth == 0, i > 0,
                ["select", "insert", "update", "delete", "merge", "values"].contains(where: { token.isKeyword($0) })
            {
                return i
            }
        }
        return nil
    }
}
