/// One SQL statement found by `SQLLexer.statements(in:)`.
public struct SQLStatement: Sendable, Hashable {
    /// The statement without its trailing `;`, with leading and trailing whitespace and comments trimmed.
    public var text: String
    /// 1-based line of its first token in the input.
    public var line: Int
    /// 1-based column of its first token.
    public var column: Int
    /// 0-based character offset of the first token in the input.
    public var offset: Int

    public init(text: String, line: Int, column: Int, offset: Int) {
        self.text = text
        self.line = line
        self.column = column
        self.offset = offset
    }
}
