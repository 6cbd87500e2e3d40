/// The character-level scanner behind `SQLLexer`: turns SQL text into lexemes (tokens, comments and
/// psql meta-command lines) with 1-based line/column and 0-based character offsets.
struct SQLScanner {
    /// What the scanner found at one place of the input.
    enum Lexeme {
        case token(SQLToken)
        case comment(SQLToken)
        /// A psql meta-command line (`\set x 1`, `\gexec`); the token's kind is `.operator`.
        case metaCommand(SQLToken)
    }

    let chars: [Character]
    private(set) var index = 0
    private(set) var line = 1
    private(set) var column = 1
    private var lineStart = 0

    init(_ sql: String) {
        chars = Array(sql)
    }

    /// The input text between two character offsets.
    func text(from start: Int, to end: Int) -> String {
        String(chars[max(0, start)..<min(end, chars.count)])
    }

    mutating func next() -> Lexeme? {
        skipWhitespace()
        guard index < chars.count else { return nil }
        let start = (index: index, line: line, column: column)
        let c = chars[index]
        let kind: SQLToken.Kind
        switch c {
        case "-" where peek(1) == "-":
            skipLineComment()
            return .comment(makeToken(.comment, start))
        case "/" where peek(1) == "*":
            skipBlockComment()
            return .comment(makeToken(.comment, start))
        case "\\" where onlyBlanksBeforeOnLine():
            while index < chars.count, !chars[index].isNewline { advance() }
            return .metaCommand(makeToken(.operator, start))
        case "'":
            scanQuoted(closing: "'", backslashEscapes: false)
            kind = .string
        case "\"":
            scanQuoted(closing: "\"", backslashEscapes: false)
            kind = .quotedIdentifier
        case _ where Self.isStringPrefix(c) && peek(1) == "'":
            advance()
            scanQuoted(closing: "'", backslashEscapes: c == "e" || c == "E")
            kind = .string
        case _ where (c == "u" || c == "U") && peek(1) == "&" && (peek(2) == "'" || peek(2) == "\""):
            advance()
            advance()
            let quote = chars[index]
            scanQuoted(closing: quote, backslashEscapes: false)
            kind = quote == "'" ? .string : .quotedIdentifier
        case "$":
            kind = scanDollar()
        case "0"..."9":
            scanNumber()
            kind = .number
        case "." where peek(1).map(Self.isDigit) == true:
            scanNumber()
            kind = .number
        case "(", ")", "[", "]", ",", ";", ".":
            advance()
            kind = .punctuation
        case ":":
            advance()
            if peek(0) == ":" {
                advance()
                kind = .operator
            } else {
                if peek(0) == "=" { advance() }
                kind = .punctuation
            }
        case _ where Self.isOperatorChar(c):
            scanOperator()
            kind = .operator
        case _ where Self.isIdentifierStart(c):
            while index < chars.count, Self.isIdentifierPart(chars[index]) { advance() }
            kind = .word
        default:
            advance()
            kind = .operator
        }
        return .token(makeToken(kind, start))
    }

    /// Skips the data lines of a `COPY … FROM STDIN` up to and including the `\.` line.
    mutating func skipCopyData() {
        // The rest of the line holding the COPY's ';' is not data.
        while index < chars.count, !chars[index].isNewline { advance() }
        if index < chars.count { advance() }
        while index < chars.count {
            var end = index
            while end < chars.count, !chars[end].isNewline { end += 1 }
            let isTerminator = String(chars[index..<end]).trimmingBlanks == "\\."
            while index < end { advance() }
            if index < chars.count { advance() }
            if isTerminator { return }
        }
    }

    // MARK: - Pieces

    private func peek(_ distance: Int) -> Character? {
        let i = index + distance
        return i < chars.count ? chars[i] : nil
    }

    private mutating func advance() {
        let c = chars[index]
        index += 1
        if c.isNewline {
            line += 1
            column = 1
            lineStart = index
        } else {
            column += 1
        }
    }

    private func makeToken(_ kind: SQLToken.Kind, _ start: (index: Int, line: Int, column: Int)) -> SQLToken {
        SQLToken(
            kind: kind,
            text: String(chars[start.index..<index]),
            line: start.line,
            column: start.column,
            offset: start.index,
            length: index - start.index
        )
    }

    private mutating func skipWhitespace() {
        while index < chars.count, chars[index].isWhitespace { advance() }
    }

    private func onlyBlanksBeforeOnLine() -> Bool {
        chars[lineStart..<index].allSatisfy(\.isWhitespace)
    }

    private mutating func skipLineComment() {
        while index < chars.count, !chars[index].isNewline { advance() }
    }

    /// `/* … */`, which nests in PostgreSQL. An unterminated comment runs to the end of the input.
    private mutating func skipBlockComment() {
        var depth = 0
        while index < chars.count {
            if chars[index] == "/" && peek(1) == "*" {
                depth += 1
                advance()
                advance()
            } else if chars[index] == "*" && peek(1) == "/" {
                depth -= 1
                advance()
                advance()
                if depth == 0 { return }
            } else {
                advance()
            }
        }
    }

    /// A quoted string or identifier starting at the opening quote; a doubled quote is an escaped quote
    /// and, with `backslashEscapes`, so is a backslash followed by any character. Unterminated quotes run
    /// to the end of the input.
    private mutating func scanQuoted(closing: Character, backslashEscapes: Bool) {
        advance()
        while index < chars.count {
            let c = chars[index]
            if backslashEscapes && c == "\\" {
                advance()
                if index < chars.count { advance() }
            } else if c == closing {
                advance()
                if peek(0) == closing {
                    advance()
                } else {
                    return
                }
            } else {
                advance()
            }
        }
    }

    /// `$1`, `$$…$$`, `$tag$…$tag$`, or a lone `$`.
    private mutating func scanDollar() -> SQLToken.Kind {
        if let next = peek(1), Self.isDigit(next) {
            advance()
            while index < chars.count, Self.isDigit(chars[index]) { advance() }
            return .parameter
        }
        // Read a tag: $ [identifier-start identifier-part*] $, where '$' is not part of a tag.
        var end = index + 1
        if end < chars.count, Self.isIdentifierStart(chars[end]) {
            end += 1
            while end < chars.count, chars[end] != "$", Self.isIdentifierPart(chars[end]) { end += 1 }
        }
        guard end < chars.count, chars[end] == "$" else {
            advance()
            return .operator
        }
        let tag = Array(chars[index...end])
        while index <= end { advance() }
        while index < chars.count {
            if chars[index] == "$", index + tag.count <= chars.count, Array(chars[index..<index + tag.count]) == tag {
                for _ in 0..<tag.count { advance() }
                return .string
            }
            advance()
        }
        return .string
    }

    private mutating func scanNumber() {
        if chars[index] == "0", let p = peek(1), "xXoObB".contains(p) {
            advance()
            advance()
            while index < chars.count, chars[index].isLetter || Self.isDigit(chars[index]) || chars[index] == "_" {
                advance()
            }
            return
        }
        while index < chars.count, Self.isDigit(chars[index]) || chars[index] == "_" { advance() }
        if peek(0) == ".", peek(1) != "." {
            advance()
            while index < chars.count, Self.isDigit(chars[index]) || chars[index] == "_" { advance() }
        }
        if let e = peek(0), e == "e" || e == "E" {
            if let d = peek(1), Self.isDigit(d) {
                advance()
            } else if let s = peek(1), s == "+" || s == "-", let d = peek(2), Self.isDigit(d) {
                advance()
                advance()
            } else {
                return
            }
            while index < chars.count, Self.isDigit(chars[index]) { advance() }
        }
    }

    /// A run of operator characters, stopped before a `--` or `/*` that starts a comment.
    private mutating func scanOperator() {
        advance()
        while index < chars.count, Self.isOperatorChar(chars[index]) {
            if (chars[index] == "-" && peek(1) == "-") || (chars[index] == "/" && peek(1) == "*") { break }
            advance()
        }
    }

    // MARK: - Character classes

    static func isDigit(_ c: Character) -> Bool {
        c.isASCII && c.isNumber
    }

    static func isIdentifierStart(_ c: Character) -> Bool {
        c == "_" || c.isLetter || !c.isASCII
    }

    static func isIdentifierPart(_ c: Character) -> Bool {
        isIdentifierStart(c) || isDigit(c) || c == "$"
    }

    /// `E'…'` (escapes), `B'…'` (bits), `X'…'` (hex bits), `N'…'` (national).
    static func isStringPrefix(_ c: Character) -> Bool {
        "eEbBxXnN".contains(c)
    }

    static func isOperatorChar(_ c: Character) -> Bool {
        "+-*/<>=~!@#%^&|`?".contains(c)
    }
}

extension String {
    /// The string without leading and trailing whitespace.
    var trimmingBlanks: String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view = view.dropFirst() }
        while let last = view.last, last.isWhitespace { view = view.dropLast() }
        return String(view)
    }
}
