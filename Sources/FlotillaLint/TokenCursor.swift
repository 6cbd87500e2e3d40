/// A read position in a statement's tokens, with the small recursive-descent helpers the rules need.
struct TokenCursor {
    let tokens: [SQLToken]
    private(set) var position: Int

    init(_ tokens: [SQLToken], position: Int = 0) {
        self.tokens = tokens
        self.position = position
    }

    init(_ tokens: ArraySlice<SQLToken>) {
        self.init(Array(tokens))
    }

    var isAtEnd: Bool { position >= tokens.count }
    var current: SQLToken? { peek(0) }
    /// The tokens from the current position to the end.
    var rest: ArraySlice<SQLToken> { tokens[min(position, tokens.count)...] }

    func peek(_ distance: Int) -> SQLToken? {
        let i = position + distance
        return i >= 0 && i < tokens.count ? tokens[i] : nil
    }

    @discardableResult
    mutating func advance() -> SQLToken? {
        defer { position += 1 }
        return current
    }

    /// Whether the next tokens are the keywords `words`, in order.
    func at(_ words: String...) -> Bool {
        at(words)
    }

    func at(_ words: [String]) -> Bool {
        for (i, word) in words.enumerated() where peek(i)?.isKeyword(word) != true {
            return false
        }
        return true
    }

    /// Consumes the keywords `words` when the next tokens are exactly those.
    @discardableResult
    mutating func accept(_ words: String...) -> Bool {
        guard at(words) else { return false }
        position += words.count
        return true
    }

    func atSymbol(_ symbol: String) -> Bool {
        current?.isSymbol(symbol) == true
    }

    @discardableResult
    mutating func acceptSymbol(_ symbol: String) -> Bool {
        guard atSymbol(symbol) else { return false }
        position += 1
        return true
    }

    /// An identifier (word or quoted identifier) as PostgreSQL resolves it.
    mutating func identifier() -> String? {
        guard let token = current, let name = token.identifier else { return nil }
        position += 1
        return name
    }

    /// `name`, `schema.name` or `database.schema.name`.
    mutating func qualifiedName() -> QualifiedName? {
        guard let first = identifier() else { return nil }
        var parts = [first]
        while atSymbol("."), let next = peek(1), next.identifier != nil {
            position += 1
            parts.append(identifier()!)
        }
        return QualifiedName(parts: parts)
    }

    /// Skips a balanced `( … )` group when the cursor is on `(`; returns the tokens inside it.
    @discardableResult
    mutating func parenthesized() -> ArraySlice<SQLToken>? {
        guard atSymbol("(") else { return nil }
        let start = position + 1
        var depth = 0
        while let token = current {
            if token.isSymbol("(") || token.isSymbol("[") {
                depth += 1
            } else if token.isSymbol(")") || token.isSymbol("]") {
                depth -= 1
                if depth == 0 {
                    position += 1
                    return tokens[start..<position - 1]
                }
            }
            position += 1
        }
        return tokens[start..<tokens.count]
    }

    /// Skips one token, or a whole parenthesized group when on `(`.
    mutating func skipTerm() {
        if atSymbol("(") || atSymbol("[") {
            skipGroup()
        } else {
            position += 1
        }
    }

    private mutating func skipGroup() {
        var depth = 0
        while let token = current {
            if token.isSymbol("(") || token.isSymbol("[") {
                depth += 1
            } else if token.isSymbol(")") || token.isSymbol("]") {
                depth -= 1
                if depth == 0 {
                    position += 1
                    return
                }
            }
            position += 1
        }
    }
}

extension ArraySlice<SQLToken> {
    /// Splits at commas that are not inside parentheses or brackets.
    func splitAtTopLevelCommas() -> [ArraySlice<SQLToken>] {
        var parts: [ArraySlice<SQLToken>] = []
        var depth = 0
        var start = startIndex
        for i in indices {
            let token = self[i]
            if token.isSymbol("(") || token.isSymbol("[") {
                depth += 1
            } else if token.isSymbol(")") || token.isSymbol("]") {
                depth = Swift.max(0, depth - 1)
            } else if token.isSymbol(","), depth == 0 {
                parts.append(self[start..<i])
                start = i + 1
            }
        }
        parts.append(self[start..<endIndex])
        return parts.filter { !$0.isEmpty }
    }

    /// Whether a keyword appears outside parentheses.
    func containsTopLevelKeyword(_ keyword: String) -> Bool {
        var depth = 0
        for token in self {
            if token.isSymbol("(") || token.isSymbol("[") {
                depth += 1
            } else if token.isSymbol(")") || token.isSymbol("]") {
                depth = Swift.max(0, depth - 1)
            } else if depth == 0, token.isKeyword(keyword) {
                return true
            }
        }
        return false
    }
}

extension Sequence<SQLToken> {
    /// The tokens as written, with one space where the source had whitespace or a comment between them.
    var sourceText: String {
        var text = ""
        var end: Int?
        for token in self {
            if let end, token.offset > end { text += " " }
            text += token.text
            end = token.offset + token.length
        }
        return text
    }
}
