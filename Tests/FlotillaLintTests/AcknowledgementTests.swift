import FlotillaLint
import Testing

@Suite("Acknowledgements")
struct AcknowledgementTests {
    func lint(_ sql: String, ignores: [Acknowledgement] = []) -> [Finding] {
        Linter().lint([LintInput(file: "a.sql", sql: sql, ignores: ignores)])
    }

    @Test func trailingDirectiveWithReasonAcknowledges() throws {
        let findings = lint(
            """
            ALTER TABLE users DROP COLUMN legacy; -- flotilla:ignore drop-column nothing reads it since v41
            ALTER TABLE users DROP COLUMN other;
            """
        )
        try #require(findings.count == 2)
        #expect(findings[0].acknowledged == "nothing reads it since v41")
        #expect(findings[0].risk == .high)
        #expect(!findings[0].fails(at: .high))
        #expect(findings[1].acknowledged == nil)
        #expect(findings[1].fails(at: .high))
    }

    @Test func directiveOnTheLineBeforeAcknowledges() throws {
        let findings = lint(
            """
            SELECT 1;
            -- flotilla:ignore set-not-null: the table has 40 rows per tenant
            ALTER TABLE users ALTER COLUMN email SET NOT NULL;
            """
        )
        let setNotNull = try #require(findings.first { $0.rule == "set-not-null" })
        #expect(setNotNull.acknowledged == "the table has 40 rows per tenant")
        #expect(findings.first?.acknowledged == nil)
    }

    @Test func directiveInsideAMultiLineStatementAndBlockComments() throws {
        let findings = lint(
            """
            ALTER TABLE users
              DROP COLUMN a, -- flotilla:ignore drop-column,set-not-null phased out in 2023
              ALTER COLUMN b SET NOT NULL;
            /* flotilla:ignore create-index tiny lookup table */ CREATE INDEX ON kinds (name);
            """
        )
        try #require(findings.count == 3)
        #expect(findings.map(\.acknowledged) == ["phased out in 2023", "phased out in 2023", "tiny lookup table"])
    }

    @Test func directiveOnlyAcknowledgesItsRule() throws {
        let findings = lint(
            """
            -- flotilla:ignore drop-column reviewed
            ALTER TABLE users DROP COLUMN a, ALTER COLUMN b TYPE bigint;
            """
        )
        try #require(findings.count == 2)
        #expect(findings[0].acknowledged == "reviewed")
        #expect(findings[1].rule == "alter-column-type")
        #expect(findings[1].acknowledged == nil)
    }

    @Test func directiveWithoutReasonIsAHighFinding() throws {
        let findings = lint(
            """
            -- flotilla:ignore drop-column
            ALTER TABLE users DROP COLUMN a;
            """
        )
        try #require(findings.count == 2)
        #expect(findings[0].rule == "ignore-without-reason")
        #expect(findings[0].risk == .high)
        #expect(findings[0].line == 1)
        #expect(findings[0].column == 1)
        #expect(findings[0].statement == "ALTER TABLE users DROP COLUMN a")
        #expect(findings[0].fails(at: .high))
        #expect(findings[1].rule == "drop-column")
        #expect(findings[1].acknowledged == nil)
    }

    @Test func directiveWithoutRuleOrReasonIsAHighFinding() {
        let findings = lint("SELECT 1; -- flotilla:ignore")
        #expect(findings.map(\.rule) == ["statement", "ignore-without-reason"])
        #expect(findings.last?.column == 11)
    }

    @Test func directivesInStringsAndDollarBodiesAreNotDirectives() {
        let findings = lint(
            """
            SELECT '-- flotilla:ignore drop-column nope';
            CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ -- flotilla:ignore drop-table x
            SELECT 1 $$;
            DROP TABLE t;
            """
        )
        #expect(findings.map(\.rule) == ["statement", "statement", "drop-table"])
        #expect(findings.allSatisfy { $0.acknowledged == nil })
    }

    @Test func unknownRuleIsReported() {
        let findings = lint("DROP TABLE t; -- flotilla:ignore drop-tabel old data")
        #expect(findings.map(\.rule) == ["drop-table", "ignore-unknown-rule"])
        #expect(findings[0].acknowledged == nil)
    }

    @Test func inputIgnoresAcknowledgeEveryStatementOfTheInput() {
        let findings = lint(
            "ALTER TABLE a DROP COLUMN x;\nALTER TABLE b DROP COLUMN y;\nDROP TABLE c;",
            ignores: [Acknowledgement(rule: "drop-column", reason: "contract phase, approved in #42")]
        )
        #expect(
            findings.map(\.acknowledged) == ["contract phase, approved in #42", "contract phase, approved in #42", nil])
    }

    @Test func inputIgnoreWithoutReasonIsAHighFinding() {
        let findings = lint(
            "ALTER TABLE a DROP COLUMN x", ignores: [Acknowledgement(rule: "drop-column", reason: "  ")]
        )
        #expect(findings.map(\.rule) == ["ignore-without-reason", "drop-column"])
        #expect(findings.allSatisfy { $0.acknowledged == nil && $0.risk == .high })
    }

    @Test func ignoreWithoutReasonCannotBeAcknowledged() {
        let findings = lint(
            "-- flotilla:ignore drop-column\nALTER TABLE a DROP COLUMN x",
            ignores: [Acknowledgement(rule: "ignore-without-reason", reason: "please")]
        )
        #expect(findings.first { $0.rule == "ignore-without-reason" }?.acknowledged == nil)
    }
}
