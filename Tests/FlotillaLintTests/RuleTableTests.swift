import FlotillaLint
import Testing

@Suite("Rule table")
struct RuleTableTests {
    @Test(arguments: RuleTable.all)
    func classifies(_ row: RuleCase) throws {
        let findings = row.findings()
        let finding = try #require(findings.last)
        #expect(finding.rule == row.rule)
        #expect(finding.risk == row.risk)
        let rule = try #require(Linter.rules.first { $0.id == finding.rule }, "rule \(finding.rule) is not documented")
        if finding.risk == rule.risk {
            #expect(finding.strategy == rule.strategy)
        } else {
            // Context made it harmless: created in this change, or proven by a validated check.
            #expect(finding.risk < rule.risk)
            #expect(finding.strategy == "direct deployment")
        }
        #expect(!finding.message.isEmpty)
        #expect(!finding.lock.isEmpty)
    }

    @Test func tableIsLargeAndCoversEveryRiskAndTrap() {
        #expect(RuleTable.all.count >= 60)
        #expect(Set(RuleTable.all.map(\.risk)) == Set(Risk.allCases))
        #expect(RuleTable.falsePositiveTraps.allSatisfy { $0.risk == .low })
    }

    @Test func oneFindingPerStatement() {
        let sql = """
            CREATE TABLE t (a int);
            COMMENT ON TABLE t IS 'x';
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
            INSERT INTO t SELECT 1 WHERE false;
            SELECT * FROM t;
            BEGIN;
            COMMIT;
            """
        let findings = Linter().lint([LintInput(file: "x.sql", sql: sql)])
        #expect(findings.count == 7)
        #expect(findings.map(\.line) == [1, 2, 3, 4, 5, 6, 7])
        #expect(findings.allSatisfy { $0.rule == "statement" && $0.risk == .low && $0.strategy == "direct deployment" })
    }
}
