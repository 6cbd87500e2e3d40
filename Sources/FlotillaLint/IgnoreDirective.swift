/// A `-- flotilla:ignore RULE[,RULE…] reason…` comment (or the same in `/* … */`), which acknowledges the
/// rules for the statement it sits on: on the line(s) just before it, or at the end of one of its lines.
struct IgnoreDirective {
    static let marker = "flotilla:ignore"

    var rules: [String]
    /// Empty when the comment gives none.
    var reason: String
    var comment: SQLToken

    /// The directive in a comment token, nil when the comment is not one.
    static func parse(_ comment: SQLToken) -> IgnoreDirective? {
        var body = Substring(comment.text)
        if body.hasPrefix("--") {
            body = body.dropFirst(2)
        } else if body.hasPrefix("/*") {
            body = body.dropFirst(2)
            if body.hasSuffix("*/") { body = body.dropLast(2) }
        }
        body = body.drop { $0.isWhitespace }
        guard body.count >= marker.count, SQLToken.fold(String(body.prefix(marker.count))) == marker else {
            return nil
        }
        body = body.dropFirst(marker.count)
        guard body.isEmpty || body.first!.isWhitespace else { return nil }
        body = body.drop { $0.isWhitespace }
        // Rules: comma-separated, possibly with blanks after the commas.
        var rules: [String] = []
        while let first = body.first, !first.isWhitespace {
            let word = body.prefix { !$0.isWhitespace }
            body = body.dropFirst(word.count)
            rules += word.split(separator: ",").map { SQLToken.fold(String($0.hasSuffix(":") ? $0.dropLast() : $0)) }
                .filter { !$0.isEmpty }
            guard word.hasSuffix(",") else { break }
            body = body.drop { $0.isWhitespace }
        }
        var reason = String(body).trimmingBlanks
        while let first = reason.first, "-:—–".contains(first) {
            reason = String(reason.dropFirst()).trimmingBlanks
        }
        return IgnoreDirective(rules: rules, reason: reason, comment: comment)
    }

    /// The index of the statement a directive comment belongs to: the statement it is inside or trails on
    /// the same line, else the next statement. Nil when no statement follows it.
    static func statementIndex(for comment: SQLToken, in statements: [LexedStatement]) -> Int? {
        let next = statements.firstIndex { $0.statement.offset > comment.offset }
        let previous = next.map { $0 - 1 } ?? statements.count - 1
        if previous >= 0 {
            let statement = statements[previous]
            let inside = comment.offset < statement.endOffset
            let nextStartsOnSameLine = next.map { statements[$0].statement.line == comment.line } ?? false
            if inside || (comment.line == statement.endLine && !nextStartsOnSameLine) { return previous }
        }
        return next
    }
}
