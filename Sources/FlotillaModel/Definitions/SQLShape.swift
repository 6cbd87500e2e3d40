import FlotillaLint

/// What a piece of SQL in a definition must be, given where Flotilla puts it.
enum SQLShape {
    /// Pasted inside a statement Flotilla writes (a backfill's `where` goes into `… AND (where)`, its `set` and
    /// `revert` after `SET`): one expression, no `;`, no `--` comment running into the SQL that follows.
    case fragment
    /// A SET list (`set`, `revert`): a fragment that also keeps to the SET clause (no `FROM`, `WHERE` or `RETURNING`
    /// of its own, which would change the rows the batch updates).
    case setList
    /// Run as one query (`verify`, a check's `sql`): one statement; a trailing `;` is tolerated because the engine
    /// strips it.
    case query
    /// Run as statements (`up`, `down`): at least one statement.
    case script
}

/// A problem in a piece of SQL, at a 1-based line and column inside it.
struct SQLProblem: Equatable {
    var message: String
    var line: Int
    var column: Int
    /// The text found there, to find the place in the file.
    var text: String
}

/// Checks `sql`, written under `key`, against `shape` with the SQL lexer: quotes, dollar quotes and comments closed,
/// parentheses and brackets balanced, one expression or statement where Flotilla expects one. Nil when it is fine.
func sqlProblem(_ sql: String, key: String, shape: SQLShape) -> SQLProblem? {
    let tokens = SQLLexer.tokens(in: sql, includeComments: true)
    let length = sql.count
    var opened: [SQLToken] = []
    var sawCode = false
    var semicolon: SQLToken?
    var previous: SQLToken?
    func problem(_ token: SQLToken, _ message: String) -> SQLProblem {
        SQLProblem(message: message, line: token.line, column: token.column, text: token.text)
    }
    for token in tokens {
        if let unterminated = unterminatedProblem(token) {
            return problem(token, "\(key) has \(unterminated)")
        }
        if semicolon != nil, shape == .query, !token.isSymbol(";") {
            return problem(token, "\(key) must be a single statement, but more follows its ';'")
        }
        if token.kind == .comment {
            if shape == .fragment || shape == .setList, token.text.hasPrefix("--"),
                token.offset + token.length >= length
            {
                return problem(
                    token,
                    "\(key) ends in a -- comment, which would swallow the SQL Flotilla writes after it; use /* … */")
            }
            continue
        }
        sawCode = true
        defer { previous = token }
        switch token.kind {
        case .punctuation where token.text == "(" || token.text == "[":
            opened.append(token)
        case .punctuation where token.text == ")" || token.text == "]":
            let expected = token.text == ")" ? "(" : "["
            guard let last = opened.popLast() else {
                return problem(
                    token, "\(key) has an unbalanced '\(token.text)': no '\(expected)' before it opens it")
            }
            if last.text != expected {
                return problem(
                    token,
                    "\(key) has '\(token.text)' while a '\(last.text)' is still open; close it first")
            }
        case .punctuation where token.text == ";":
            switch shape {
            case .fragment, .setList:
                return problem(
                    token, "\(key) must be a single expression; ';' would end Flotilla's statement and start another")
            case .query:
                if !opened.isEmpty {
                    return problem(token, "\(key) has ';' inside parentheses")
                }
                semicolon = semicolon ?? token
            case .script:
                break
            }
        case .word where shape == .setList && opened.isEmpty:
            let word = SQLToken.fold(token.text)
            let distinctFrom = word == "from" && previous?.isKeyword("distinct") == true
            if ["from", "where", "returning"].contains(word), !distinctFrom {
                return problem(
                    token,
                    "\(key) is the SET list of Flotilla's UPDATE; '\(token.text)' would change which rows each batch "
                        + "updates (only column = expression pairs belong here)")
            }
        default:
            break
        }
    }
    if let open = opened.last {
        return problem(open, "\(key) has an unbalanced '\(open.text)': it is never closed")
    }
    if !sawCode {
        let first = tokens.first
        return SQLProblem(
            message: shape == .script
                ? "\(key) has no SQL statement, only comments" : "\(key) has no SQL, only comments",
            line: first?.line ?? 1, column: first?.column ?? 1, text: first?.text ?? "")
    }
    return nil
}

/// What is left open by a token that runs to the end of the input: a quote, a dollar quote or a block comment.
private func unterminatedProblem(_ token: SQLToken) -> String? {
    let characters = Array(token.text)
    switch token.kind {
    case .comment:
        guard token.text.hasPrefix("/*") else { return nil }
        var depth = 0
        var index = 0
        while index < characters.count {
            if characters[index] == "/", index + 1 < characters.count, characters[index + 1] == "*" {
                depth += 1
                index += 2
            } else if characters[index] == "*", index + 1 < characters.count, characters[index + 1] == "/" {
                depth -= 1
                index += 2
                if depth == 0 { return index == characters.count ? nil : "an unterminated /* comment" }
            } else {
                index += 1
            }
        }
        return "an unterminated /* comment (no closing */)"
    case .string where characters.first == "$":
        guard let close = characters.dropFirst().firstIndex(of: "$") else { return nil }
        let tag = characters[...close]
        let closed = characters.count >= 2 * tag.count && characters.suffix(tag.count).elementsEqual(tag)
        return closed ? nil : "an unterminated dollar-quoted string (no closing \(String(tag)))"
    case .string, .quotedIdentifier:
        guard let open = characters.firstIndex(where: { $0 == "'" || $0 == "\"" }) else { return nil }
        let quote = characters[open]
        let prefix = characters[..<open]
        let backslashes = prefix.count == 1 && (prefix.first == "e" || prefix.first == "E")
        var index = open + 1
        while index < characters.count {
            let character = characters[index]
            if backslashes, character == "\\" {
                index += 2
            } else if character == quote {
                if index + 1 < characters.count, characters[index + 1] == quote {
                    index += 2
                } else {
                    return index == characters.count - 1 ? nil : "an unterminated \(quote)"
                }
            } else {
                index += 1
            }
        }
        return quote == "'"
            ? "an unterminated string (no closing ')" : "an unterminated quoted identifier (no closing \")"
    default:
        return nil
    }
}

extension DefinitionReader {
    /// Reports `problem` of the SQL `text` read from `node`, at its place in the file when it can be found there
    /// (`lines` are the file's lines), else at the value's place.
    func report(_ problem: SQLProblem, in node: YAMLNode, _ path: String, lines: [String]) {
        error(at: sqlLocation(problem, in: node, lines: lines), path, problem.message)
    }

    /// Checks the SQL of a string value against `shape`, reporting the first problem; false when there was one.
    @discardableResult
    func checkSQL(_ text: String, in node: YAMLNode, _ path: String, key: String, shape: SQLShape, lines: [String])
        -> Bool
    {
        guard let problem = sqlProblem(text, key: key, shape: shape) else { return true }
        report(problem, in: node, path, lines: lines)
        return false
    }

    private func sqlLocation(_ problem: SQLProblem, in node: YAMLNode, lines: [String]) -> SourceLocation {
        let start = Change.sqlText("", node: node, lines: lines)
        var location = node.location
        location.line = start.lineOffset + problem.line
        location.column = start.columnOffset + problem.column
        // Escapes, folding and multi-line flow scalars move the SQL against the file: use the place only when the
        // file shows the same text there.
        let expected = Array(problem.text.prefix { !$0.isNewline }.prefix(8))
        guard location.line >= 1, location.line <= lines.count, !expected.isEmpty else { return node.location }
        let line = Array(lines[location.line - 1])
        let from = location.column - 1
        guard from >= 0, from + expected.count <= line.count, Array(line[from..<from + expected.count]) == expected
        else { return node.location }
        return location
    }
}
