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
        #expect(text.components(separatedBy: "- **Safe rewrite:** ").count == Linter.rules.count + 1)
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
