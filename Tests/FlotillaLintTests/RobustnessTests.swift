import FlotillaLint
import Testing

@Suite("Robustness")
struct RobustnessTests {
    /// Every prefix (by token) of every statement in the rule table lints without trapping and yields at
    /// least one finding per statement.
    @Test func truncatedStatementsStillLint() {
        let linter = Linter()
        for row in RuleTable.all {
            let tokens = SQLLexer.tokens(in: row.sql)
            for count in 1...tokens.count {
                let last = tokens[count - 1]
                let prefix = String(Array(row.sql)[0..<(last.offset + last.length)])
                let statements = SQLLexer.statements(in: prefix)
                let findings = linter.lint([LintInput(file: "p.sql", sql: prefix, inTransaction: row.inTransaction)])
                #expect(findings.count >= statements.count, "\(prefix)")
            }
        }
    }

    @Test(arguments: [
        "ALTER", "ALTER TABLE", "ALTER TABLE t", "ALTER TABLE t ADD", "ALTER TABLE t ADD CONSTRAINT",
        "ALTER TABLE t ALTER COLUMN c TYPE", "CREATE INDEX", "CREATE INDEX ON", "DROP", "DROP TABLE", "UPDATE",
        "DELETE FROM", "REINDEX", "VACUUM (", ")))", "((( ALTER TABLE", "WITH x AS (", "ALTER TABLE t RENAME",
        "ALTER TABLE t ADD COLUMN c int DEFAULT", "ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (",
        "ALTER TABLE t ADD , , DROP", "'unterminated", "$$ unterminated", "\"", "E'\\", "/* open", "\\", "$", "U&",
    ])
    func malformedInputYieldsAFinding(_ sql: String) {
        let findings = Linter().lint([LintInput(file: "m.sql", sql: sql)])
        #expect(findings.count >= SQLLexer.statements(in: sql).count)
        #expect(findings.allSatisfy { $0.line >= 1 && $0.column >= 1 })
    }
}
