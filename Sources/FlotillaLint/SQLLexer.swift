/// Splits PostgreSQL SQL into statements and tokens, the way psql reads a script.
///
/// Knows `'…'` with `''` escapes, `E'…'` with backslash escapes, `"quoted identifiers"`, `$$…$$` and
/// `$tag$…$tag$` dollar quoting, `--` line comments, nested `/* */` comments, psql meta-command lines
/// (a line whose first non-blank character is a backslash) and `COPY … FROM STDIN` data blocks.
/// Like psql, a `;` inside parentheses or inside a `BEGIN ATOMIC … END` function body does not end
/// the statement.
public enum SQLLexer {
    /// Splits SQL into statements; empty statements are dropped.
    public static func statements(in sql: String) -> [SQLStatement] {
        lex(sql).statements.map(\.statement)
    }

    /// Tokens (keywords/identifiers, quoted identifiers, strings, numbers, operators/punctuation) with
    /// line/column; comments and psql meta-command lines excluded.
    public static func tokens(in sql: String) -> [SQLToken] {
        tokens(in: sql, includeComments: false)
    }

    /// Tokens, with `--` and `/* */` comments as `.comment` tokens when `includeComments` is true.
    public static func tokens(in sql: String, includeComments: Bool) -> [SQLToken] {
        var scanner = SQLScanner(sql)
        var result: [SQLToken] = []
        while let lexeme = scanner.next() {
            switch lexeme {
            case .token(let token): result.append(token)
            case .comment(let token): if includeComments { result.append(token) }
            case .metaCommand: break
            }
        }
        return result
    }

    /// Statements with their tokens, and every comment of the input: what the linter works on.
    static func lex(_ sql: String) -> LexedSQL {
        var scanner = SQLScanner(sql)
        var splitter = StatementSplitter()
        var result = LexedSQL()
        while let lexeme = scanner.next() {
            switch lexeme {
            case .comment(let token):
                result.comments.append(token)
            case .metaCommand(let token):
                if token.text.dropFirst().hasPrefix("g"), let statement = splitter.finish(scanner, terminator: nil) {
                    // \g, \gx, \gset, \gexec send the query buffer like a ';' would.
                    result.statements.append(statement)
                } else {
                    splitter.skipped(token)
                }
            case .token(let token):
                guard splitter.ends(with: token) else {
                    splitter.append(token)
                    continue
                }
                if let statement = splitter.finish(scanner, terminator: token) {
                    result.statements.append(statement)
                    if statement.isCopyFromStdin { scanner.skipCopyData() }
                }
            }
        }
        if let statement = splitter.finish(scanner, terminator: nil) {
            result.statements.append(statement)
        }
        return result
    }
}

/// The result of `SQLLexer.lex(_:)`.
struct LexedSQL {
    var statements: [LexedStatement] = []
    var comments: [SQLToken] = []
}

/// A statement with its tokens (no comments, no terminating `;`).
struct LexedStatement {
    var statement: SQLStatement
    var tokens: [SQLToken]
    /// Line of the terminating `;`, or of the last token when there is none.
    var endLine: Int
    /// Offset just past the terminating `;`, or past the last token.
    var endOffset: Int

    /// `COPY … FROM STDIN`, which psql follows with data lines up to `\.`.
    var isCopyFromStdin: Bool {
        guard tokens.first?.isKeyword("copy") == true else { return false }
        return zip(tokens, tokens.dropFirst()).contains { $0.isKeyword("from") && $1.isKeyword("stdin") }
    }
}

/// Accumulates the tokens of the statement being read and knows when a `;` ends it.
private struct StatementSplitter {
    private var tokens: [SQLToken] = []
    private var skippedRanges: [Range<Int>] = []
    private var parenDepth = 0
    private var beginDepth = 0
    /// First letters of the leading CREATE / OR / REPLACE / FUNCTION / PROCEDURE words, as psql tracks them.
    private var leadingWords: [Character] = []
    private var wordCount = 0

    func ends(with token: SQLToken) -> Bool {
        token.kind == .punctuation && token.text == ";" && parenDepth == 0 && beginDepth == 0
    }

    mutating func append(_ token: SQLToken) {
        tokens.append(token)
        switch token.kind {
        case .punctuation where token.text == "(":
            parenDepth += 1
        case .punctuation where token.text == ")":
            parenDepth = max(0, parenDepth - 1)
        case .word:
            trackBeginAtomic(SQLToken.fold(token.text))
        default:
            break
        }
    }

    /// A meta-command line inside a statement is not part of its text.
    mutating func skipped(_ token: SQLToken) {
        if !tokens.isEmpty { skippedRanges.append(token.offset..<token.offset + token.length) }
    }

    /// Ends the current statement; nil when it has no tokens.
    mutating func finish(_ scanner: SQLScanner, terminator: SQLToken?) -> LexedStatement? {
        defer { self = StatementSplitter() }
        guard let first = tokens.first, let last = tokens.last else { return nil }
        let end = last.offset + last.length
        var text = ""
        var position = first.offset
        for range in skippedRanges where range.lowerBound >= position && range.upperBound <= end {
            text += scanner.text(from: position, to: range.lowerBound)
            position = range.upperBound
        }
        text += scanner.text(from: position, to: end)
        return LexedStatement(
            statement: SQLStatement(text: text, line: first.line, column: first.column, offset: first.offset),
            tokens: tokens,
            endLine: terminator?.line ?? last.line,
            endOffset: terminator.map { $0.offset + $0.length } ?? end
        )
    }

    /// psql's heuristic for SQL-standard function bodies: in CREATE [OR REPLACE] FUNCTION|PROCEDURE,
    /// BEGIN … END (and CASE … END inside it) outside parentheses nest, and ';' inside them does not split.
    private mutating func trackBeginAtomic(_ word: String) {
        if ["create", "function", "procedure", "or", "replace"].contains(word), wordCount == leadingWords.count {
            leadingWords.append(word.first!)
        }
        wordCount += 1
        let isRoutine =
            leadingWords.count >= 2 && leadingWords[0] == "c"
            && (leadingWords[1] == "f" || leadingWords[1] == "p"
                || (leadingWords.count >= 4 && leadingWords[1] == "o" && leadingWords[2] == "r"
                    && (leadingWords[3] == "f" || leadingWords[3] == "p")))
        guard isRoutine, parenDepth == 0 else { return }
        switch word {
        case "begin": beginDepth += 1
        case "case": if beginDepth >= 1 { beginDepth += 1 }
        case "end": if beginDepth > 0 { beginDepth -= 1 }
        default: break
        }
    }
}
