/// One lexical token of PostgreSQL SQL, with its position in the input.
///
/// Positions are 1-based lines and columns counted in `Character`s; `offset` is the 0-based
/// `Character` offset of the token's first character in the input.
public struct SQLToken: Sendable, Hashable {
    /// What kind of token this is.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A keyword or an unquoted identifier (`ALTER`, `users`, `now`).
        case word
        /// A double-quoted identifier (`"Users"`, `U&"d\0061t"`), which keeps its case.
        case quotedIdentifier
        /// A string constant: `'…'`, `E'…'`, `B'…'`, `X'…'`, `N'…'`, `U&'…'`, `$$…$$`, `$tag$…$tag$`.
        case string
        /// A numeric constant (`42`, `3.5`, `1e-3`, `0xFF`, `1_000`).
        case number
        /// A positional parameter (`$1`).
        case parameter
        /// An operator (`=`, `<>`, `||`, `->>`, `::`).
        case `operator`
        /// Punctuation: `(`, `)`, `[`, `]`, `,`, `;`, `.`, `:`.
        case punctuation
        /// A `--` or `/* */` comment; only returned by `SQLLexer.tokens(in:includeComments:)`.
        case comment
    }

    public var kind: Kind
    /// The token exactly as written in the input.
    public var text: String
    /// 1-based line of the token's first character.
    public var line: Int
    /// 1-based column of the token's first character.
    public var column: Int
    /// 0-based character offset of the token's first character.
    public var offset: Int
    /// Length of the token in characters.
    public var length: Int

    public init(kind: Kind, text: String, line: Int, column: Int, offset: Int, length: Int) {
        self.kind = kind
        self.text = text
        self.line = line
        self.column = column
        self.offset = offset
        self.length = length
    }

    /// The name this token denotes when it is an identifier: an unquoted word case-folded the way
    /// PostgreSQL folds it (ASCII letters to lower case), a quoted identifier with its quotes removed
    /// and its case kept. `nil` for every other kind.
    public var identifier: String? {
        switch kind {
        case .word:
            return SQLToken.fold(text)
        case .quotedIdentifier:
            var body = Substring(text)
            if body.hasPrefix("U&") || body.hasPrefix("u&") { body = body.dropFirst(2) }
            guard body.count >= 2, body.first == "\"" else { return String(body) }
            body = body.dropFirst()
            if body.last == "\"" { body = body.dropLast() }
            return String(body).replacing("\"\"", with: "\"")
        default:
            return nil
        }
    }

    /// Whether this token is the unquoted keyword `keyword` (compared case-insensitively; pass it lower case).
    public func isKeyword(_ keyword: String) -> Bool {
        kind == .word && SQLToken.fold(text) == keyword
    }

    /// Whether this token is the punctuation or operator `symbol`.
    public func isSymbol(_ symbol: String) -> Bool {
        (kind == .punctuation || kind == .operator) && text == symbol
    }

    /// PostgreSQL's identifier folding: ASCII upper-case letters become lower case, everything else is kept.
    public static func fold(_ text: String) -> String {
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if scalar.value >= 65 && scalar.value <= 90 {
                result.unicodeScalars.append(Unicode.Scalar(scalar.value + 32)!)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
