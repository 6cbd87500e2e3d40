/// A column definition of `ADD COLUMN` / `CREATE TABLE`: name, type and the column constraints that
/// matter for risk.
struct ColumnDefinition {
    var name: String
    var type: ColumnType
    var notNull = false
    var defaultExpression = DefaultExpression.none
    /// The default as written, for messages.
    var defaultText = ""
    var isIdentity = false
    var isGeneratedStored = false
    var isUnique = false
    var isPrimaryKey = false
    var references: QualifiedName?
    var hasCheck = false

    /// Words that start a column constraint (and so end a `DEFAULT` expression).
    private static let constraintStarts = [
        "constraint", "not", "null", "check", "default", "unique", "primary", "references", "generated", "collate",
        "deferrable", "initially", "compression", "storage",
    ]

    /// Reads `name type [constraints…]` from the cursor to the end of its tokens.
    static func parse(_ cursor: inout TokenCursor) -> ColumnDefinition? {
        guard let name = cursor.identifier(), let type = ColumnType.parse(&cursor) else { return nil }
        var column = ColumnDefinition(name: name, type: type)
        while !cursor.isAtEnd {
            if cursor.accept("not", "null") {
                column.notNull = true
            } else if cursor.accept("default") {
                let start = cursor.position
                while let next = cursor.current {
                    if cursor.position > start, constraintStarts.contains(where: { next.isKeyword($0) }) { break }
                    cursor.skipTerm()
                }
                let expression = cursor.tokens[start..<cursor.position]
                column.defaultExpression = DefaultExpression.classify(expression)
                column.defaultText = expression.sourceText
            } else if cursor.accept("generated") {
                if cursor.accept("always", "as") || cursor.accept("by", "default", "as") {
                    if cursor.accept("identity") {
                        column.isIdentity = true
                    } else if cursor.parenthesized() != nil, cursor.accept("stored") {
                        column.isGeneratedStored = true
                    }
                }
            } else if cursor.accept("primary", "key") {
                column.isPrimaryKey = true
            } else if cursor.accept("unique") {
                column.isUnique = true
            } else if cursor.accept("references") {
                column.references = cursor.qualifiedName()
            } else if cursor.accept("check") {
                column.hasCheck = true
                cursor.parenthesized()
            } else {
                cursor.skipTerm()
            }
        }
        return column
    }
}
