import FlotillaLint
import Foundation
import Testing

@Suite("Live judgement")
struct LiveJudgementTests {
    let thresholds = RiskThresholds(rowsMedium: 1000, rowsHigh: 100_000)

    func schema(
        rows: Int, _ columns: [LiveSchema.Column] = [], checks: Set<String> = [], indexes: [LiveSchema.Index] = []
    )
        -> LiveSchema
    {
        LiveSchema(
            tenant: "t1", shard: "s1",
            tables: [
                LiveSchema.Table(name: "users", rows: rows, columns: columns, notNullChecks: checks, indexes: indexes)
            ])
    }

    func judged(_ sql: String, on schema: LiveSchema) -> [Finding] {
        let inputs = [LintInput(file: "m.sql", sql: sql)]
        return LiveJudgement.judge(Linter().lint(inputs), inputs: inputs, schema: schema, thresholds: thresholds)
    }

    @Test func varcharWideningFromTheLiveTypeIsLowered() throws {
        let live = schema(rows: 500_000, [LiveSchema.Column(name: "email", type: "character varying(20)")])
        let sql = "ALTER TABLE users ALTER COLUMN email TYPE varchar(256);"
        #expect(Linter().lint(LintInput(file: "m.sql", sql: sql)).first?.risk == .high)
        let finding = try #require(judged(sql, on: live).first)
        #expect(finding.risk == .low)
        #expect(finding.rule == "alter-column-type-compatible")
        #expect(finding.message.contains("character varying(20) on tenant t1"))
        #expect(
            finding.judged
                == Finding.Judged(
                    tenant: "t1", shard: "s1", table: "users", rows: 500_000, staticRisk: .high,
                    reason: finding.judged?.reason))
        #expect(finding.judged?.reason != nil)
    }

    @Test(arguments: [
        ("character varying(20)", "varchar(10)", Risk.high), ("character varying(20)", "text", .low),
        ("text", "varchar", .low), ("text", "varchar(30)", .high), ("numeric(10,5)", "numeric(11,5)", .low),
        ("numeric(10,5)", "numeric(11,4)", .high), ("character varying(20)", "citext", .low),
        ("integer", "bigint", .high),
    ])
    func typeChangesAreJudgedFromTheCurrentType(current: String, new: String, risk: Risk) throws {
        let live = schema(rows: 500_000, [LiveSchema.Column(name: "c", type: current)])
        let finding = try #require(judged("ALTER TABLE users ALTER COLUMN c TYPE \(new);", on: live).first)
        #expect(finding.risk == risk, "\(current) → \(new)")
    }

    @Test func citextIsARewriteOfTheIndexWhenTheColumnIsIndexed() throws {
        let live = schema(
            rows: 500_000, [LiveSchema.Column(name: "c", type: "text")],
            indexes: [LiveSchema.Index(name: "users_c", columns: ["c"])])
        let finding = try #require(judged("ALTER TABLE users ALTER COLUMN c TYPE citext;", on: live).first)
        #expect(finding.risk == .high)
    }

    @Test func aStaticallySafeTargetFromAnIncompatibleLiveTypeIsRaised() throws {
        let live = schema(rows: 500_000, [LiveSchema.Column(name: "c", type: "integer")])
        let finding = try #require(judged("ALTER TABLE users ALTER COLUMN c TYPE text;", on: live).first)
        #expect(
            Linter().lint(LintInput(file: "m.sql", sql: "ALTER TABLE users ALTER COLUMN c TYPE text;"))
                .first?.risk == .low)
        #expect(finding.risk == .high)
        #expect(finding.rule == "alter-column-type")
    }

    @Test func setNotNullProvenByAValidatedCheckIsLowered() throws {
        let live = schema(rows: 500_000, [LiveSchema.Column(name: "c", type: "text")], checks: ["c"])
        let finding = try #require(judged("ALTER TABLE users ALTER COLUMN c SET NOT NULL;", on: live).first)
        #expect(finding.risk == .low)
        #expect(finding.message.contains("validated CHECK (c IS NOT NULL) on tenant t1"))
        let unproven = try #require(
            judged("ALTER TABLE users ALTER COLUMN c SET NOT NULL;", on: schema(rows: 500_000)).first)
        #expect(unproven.risk == .high)
    }

    @Test func aRewriteIsScaledByTheTablesRows() throws {
        let sql = "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();"
        let small = try #require(judged(sql, on: schema(rows: 300)).first)
        #expect(small.risk == .medium)
        #expect(small.message.contains("users has 300 rows on tenant t1"))
        #expect(small.judged?.rows == 300)
        let large = try #require(judged("CREATE INDEX users_a ON users (a);", on: schema(rows: 200_000)).first)
        #expect(large.risk == .high)
        #expect(large.judged?.staticRisk == .medium)
        let middle = try #require(judged("CREATE INDEX users_a ON users (a);", on: schema(rows: 5000)).first)
        #expect(middle.risk == .medium)
        #expect(middle.judged?.reason == nil)
    }

    @Test func aTableCreatedInTheChangeIsNotJudgedLive() throws {
        let sql = "CREATE TABLE users (a int); CREATE INDEX users_a ON users (a);"
        let findings = judged(sql, on: schema(rows: 200_000))
        #expect(findings.allSatisfy { $0.judged == nil })
        #expect(findings.allSatisfy { $0.risk == .low })
    }

    @Test func aForeignKeyWithoutAnIndexIsFlagged() throws {
        let sql = """
            ALTER TABLE users ADD CONSTRAINT users_org FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;
            ALTER TABLE users ADD COLUMN team_id int REFERENCES teams;
            """
        let findings = judged(sql, on: schema(rows: 10))
        #expect(
            findings.map(\.rule) == [
                "add-constraint-not-valid", "fk-without-index", "add-foreign-key", "fk-without-index",
            ])
        let fk = findings[1]
        #expect(fk.risk == .medium)
        #expect((fk.line, fk.column) == (1, 19))
        #expect(fk.message.contains("CREATE INDEX CONCURRENTLY ON users (org_id)"))
        let indexed = schema(rows: 10, indexes: [LiveSchema.Index(name: "i", columns: ["org_id", "name"])])
        #expect(!judged(sql, on: indexed).prefix(2).contains { $0.rule == "fk-without-index" })
        let inChange = "CREATE INDEX CONCURRENTLY users_team ON users (team_id);\n" + sql
        #expect(judged(inChange, on: indexed).filter { $0.rule == "fk-without-index" }.isEmpty)
    }

    @Test func aForeignKeyWithoutAnIndexCanBeAcknowledged() throws {
        let sql = """
            -- flotilla:ignore fk-without-index orgs rows are never deleted
            ALTER TABLE users ADD CONSTRAINT users_org FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;
            """
        let findings = judged(sql, on: schema(rows: 10))
        #expect(findings.map(\.rule) == ["add-constraint-not-valid", "fk-without-index"])
        #expect(findings[1].acknowledged == "orgs rows are never deleted")
        #expect(!findings[1].fails(at: .low))
        let phase = [
            LintInput(
                file: "c.yaml", sql: "ALTER TABLE users ADD COLUMN org_id int REFERENCES orgs;", phase: "link",
                ignores: [Acknowledgement(rule: "fk-without-index", reason: "small lookup table")])
        ]
        let judgedPhase = LiveJudgement.judge(
            Linter().lint(phase), inputs: phase, schema: schema(rows: 10), thresholds: thresholds)
        #expect(judgedPhase.last?.rule == "fk-without-index")
        #expect(judgedPhase.last?.acknowledged == "small lookup table")
    }

    @Test func aFindingOnATableTheTenantLacksIsLeftAsItIs() throws {
        let sql = "ALTER TABLE orders ALTER COLUMN c SET NOT NULL;"
        let findings = judged(sql, on: schema(rows: 10))
        #expect(findings == Linter().lint(LintInput(file: "m.sql", sql: sql)))
        #expect(LiveJudgement.tables(in: [LintInput(file: "m.sql", sql: sql)]) == ["orders"])
    }

    @Test func theJSONOfAJudgedFindingMatchesItsSchema() throws {
        let finding = try #require(judged("CREATE INDEX users_a ON users (a);", on: schema(rows: 200_000)).first)
        let json = LintRenderer.render([finding], format: .json)
        #expect(json.contains("\"static_risk\" : \"medium\""))
        #expect(json.contains("\"tenant\" : \"t1\""))
        #expect(FindingSchema.rendered().contains("\"static_risk\""))
        #expect(
            LintRenderer.render([finding], format: .text).contains(
                "[judged on tenant t1 (shard s1): users, 200000 rows; was medium]"))
    }
}
