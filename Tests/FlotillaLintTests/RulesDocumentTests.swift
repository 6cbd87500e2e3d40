import FlotillaLint
import Foundation
import Testing

@Suite("Rules document")
struct RulesDocumentTests {
    @Test(arguments: Linter.rules.map(\.id))
    func everyRuleHasAGuideWhoseExampleItFlags(_ id: String) throws {
        let rule = try #require(Linter.rules.first { $0.id == id })
        let guide = try #require(rule.guide, "\(id) has no guide")
        #expect(!guide.rewrite.isEmpty)
        let finding = try #require(RulesDocument.exampleFinding(rule, guide), "the example of \(id) is not flagged")
        #expect(finding.risk == rule.risk, "the example of \(id) shows the rule at its own risk")
    }

    @Test func everySectionIsThere() {
        let text = RulesDocument.markdown()
        for rule in Linter.rules {
            #expect(text.contains("\n## \(rule.id)\n\n\(rule.summary)\n"))
        }
        // The live-schema rules (`lint --fleet`) are documented after the static ones, each with its rewrite.
        for rule in RuleDescription.liveCatalog {
            #expect(text.contains("\n## \(rule.id)\n\n\(rule.summary)\n"), "\(rule.id) is documented")
        }
        #expect(
            text.components(separatedBy: "- **Safe rewrite:** ").count
                == Linter.rules.count + RuleDescription.liveCatalog.count + 1)
        #expect(text.components(separatedBy: "```sql\n").count == Linter.rules.count + 1)
    }

    @Test("docs/rules.md in the repository is the generated text")
    func committedDocument() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let committed = try String(contentsOf: root.appendingPathComponent("docs/rules.md"), encoding: .utf8)
        #expect(committed == RulesDocument.markdown(), "regenerate it: flotilla lint --rules > docs/rules.md")
    }
}

@Suite("JSON Schema of findings")
struct FindingSchemaTests {
    func schema() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(FindingSchema.rendered().utf8))
        return try #require(object as? [String: Any])
    }

    func findingProperties() throws -> [String: Any] {
        let defs = try #require(try schema()["$defs"] as? [String: Any])
        let finding = try #require(defs["finding"] as? [String: Any])
        return try #require(finding["properties"] as? [String: Any])
    }

    @Test func everyRuleIsInTheSchemaWithItsSummary() throws {
        let rule = try #require(try findingProperties()["rule"] as? [String: Any])
        let options = try #require(rule["oneOf"] as? [[String: Any]])
        // The static rules first, then those only a live schema gives (judged on a tenant's catalog).
        #expect(options.prefix(Linter.rules.count).compactMap { $0["const"] as? String } == Linter.rules.map(\.id))
        for (option, described) in zip(options, Linter.rules) {
            #expect((option["description"] as? String)?.hasPrefix(described.summary) == true)
        }
    }

    @Test func lintJSONOutputHasExactlyTheSchemaKeys() throws {
        let properties = try findingProperties()
        let sql = "BEGIN;\nALTER TABLE users DROP COLUMN legacy;\nDROP DATABASE tenant_acme;"
        let output = LintRenderer.render(Linter().lint(LintInput(file: "x.sql", sql: sql)), format: .json)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let findings = try #require(document["findings"] as? [[String: Any]])
        #expect(!findings.isEmpty)
        let risk = try #require(properties["risk"] as? [String: Any])
        let strategy = try #require(properties["strategy"] as? [String: Any])
        for finding in findings {
            #expect(Set(finding.keys).isSubset(of: Set(properties.keys)))
            #expect((risk["enum"] as? [String])?.contains(finding["risk"] as? String ?? "") == true)
            #expect((strategy["enum"] as? [String])?.contains(finding["strategy"] as? String ?? "") == true)
        }
    }

    @Test("docs/findings.schema.json in the repository is the generated schema")
    func committedSchema() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let committed = try String(
            contentsOf: root.appendingPathComponent("docs/findings.schema.json"), encoding: .utf8)
        #expect(
            committed == FindingSchema.rendered(), "regenerate it: flotilla lint --schema > docs/findings.schema.json")
    }
}
