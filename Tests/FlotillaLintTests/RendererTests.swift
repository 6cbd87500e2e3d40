import FlotillaLint
import Foundation
import Testing

@Suite("Renderers")
struct RendererTests {
    let findings = Linter().lint([
        LintInput(
            file: "fleets/demo/changes/0002 email.yaml",
            sql: """
                ALTER TABLE users ADD COLUMN email_verified boolean DEFAULT false;
                CREATE INDEX ON users (email);
                ALTER TABLE users DROP COLUMN token; -- flotilla:ignore drop-column unused since v3
                ALTER TABLE users ALTER COLUMN id TYPE bigint;
                """,
            lineOffset: 5, columnOffset: 4, phase: "expand", inTransaction: false
        ),
        LintInput(file: "x.sql", sql: "CREATE INDEX CONCURRENTLY i ON t (a)"),
    ])

    func object(_ json: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test func fixtureHasEveryRisk() {
        #expect(findings.map(\.risk) == [.low, .medium, .high, .high, .error])
    }

    @Test func textHasOneLinePerFindingAndASummary() {
        let lines = LintRenderer.render(findings, format: .text).split(separator: "\n").map(String.init)
        #expect(lines.count == findings.count + 1)
        for (line, finding) in zip(lines, findings) {
            #expect(
                line.hasPrefix(
                    "\(finding.file):\(finding.line):\(finding.column): \(finding.risk.rawValue): [\(finding.rule)] "
                        + finding.message
                )
            )
            #expect(line.contains("(\(finding.strategy); \(finding.lock))"))
        }
        #expect(lines[0].hasPrefix("fleets/demo/changes/0002 email.yaml:6:5: low: [add-column] "))
        #expect(lines[2].hasSuffix("[acknowledged: unused since v3]"))
        #expect(lines.last == "5 findings: 1 error, 2 high, 1 medium, 1 low (1 acknowledged)")
        #expect(
            LintRenderer.render([], format: .text) == "0 findings: 0 error, 0 high, 0 medium, 0 low (0 acknowledged)")
    }

    @Test func jsonShapeIsStableAndRoundTrips() throws {
        let json = LintRenderer.render(findings, format: .json)
        let root = try object(json)
        #expect(Array(root.keys) == ["findings"])
        let items = try #require(root["findings"] as? [[String: Any]])
        #expect(items.count == findings.count)
        let keys: Set<String> = [
            "file", "line", "column", "rule", "risk", "strategy", "lock", "message", "phase", "statement",
            "acknowledged",
        ]
        for item in items { #expect(Set(item.keys) == keys) }
        #expect(items[0]["line"] as? Int == 6)
        #expect(items[0]["column"] as? Int == 5)
        #expect(items[0]["rule"] as? String == "add-column")
        #expect(items[0]["acknowledged"] is NSNull)
        #expect(items[2]["acknowledged"] as? String == "unused since v3")
        #expect(items[4]["phase"] is NSNull)
        #expect(items[4]["risk"] as? String == "error")
        // Sorted keys: "acknowledged" comes first in every object, and the output is deterministic.
        #expect(json.contains("\"acknowledged\""))
        let first = try #require(json.range(of: "\"acknowledged\""))
        let file = try #require(json.range(of: "\"file\""))
        #expect(first.lowerBound < file.lowerBound)
        #expect(LintRenderer.render(findings, format: .json) == json)
        let decoded = try JSONDecoder().decode([String: [Finding]].self, from: Data(json.utf8))
        #expect(decoded["findings"] == findings)
    }

    @Test func sarifHasTheRequiredFields() throws {
        let root = try object(LintRenderer.render(findings, format: .sarif))
        #expect(root["version"] as? String == "2.1.0")
        #expect((root["$schema"] as? String)?.contains("sarif") == true)
        let runs = try #require(root["runs"] as? [[String: Any]])
        #expect(runs.count == 1)
        let driver = try #require((runs[0]["tool"] as? [String: Any])?["driver"] as? [String: Any])
        #expect(driver["name"] as? String == "flotilla")
        let rules = try #require(driver["rules"] as? [[String: Any]])
        // The static rules first, then those only a live schema gives.
        #expect(rules.prefix(Linter.rules.count).compactMap { $0["id"] as? String } == Linter.rules.map(\.id))
        for rule in rules {
            #expect(rule["id"] is String)
            #expect(((rule["shortDescription"] as? [String: Any])?["text"] as? String)?.isEmpty == false)
            let level = (rule["defaultConfiguration"] as? [String: Any])?["level"] as? String
            #expect(["error", "warning", "note"].contains(level ?? ""))
        }
        let ruleIDs = rules.compactMap { $0["id"] as? String }
        let results = try #require(runs[0]["results"] as? [[String: Any]])
        #expect(results.count == findings.count)
        for (result, finding) in zip(results, findings) {
            #expect(result["ruleId"] as? String == finding.rule)
            #expect(result["ruleIndex"] as? Int == ruleIDs.firstIndex(of: finding.rule))
            let message = try #require((result["message"] as? [String: Any])?["text"] as? String)
            #expect(message.hasPrefix(finding.message))
            let locations = try #require(result["locations"] as? [[String: Any]])
            let physical = try #require(locations.first?["physicalLocation"] as? [String: Any])
            let uri = (physical["artifactLocation"] as? [String: Any])?["uri"] as? String
            let region = try #require(physical["region"] as? [String: Any])
            #expect(region["startLine"] as? Int == finding.line)
            #expect(region["startColumn"] as? Int == finding.column)
            #expect(uri == (finding.file == "x.sql" ? "x.sql" : "fleets/demo/changes/0002%20email.yaml"))
        }
        #expect(results.map { $0["level"] as? String } == ["note", "warning", "error", "error", "error"])
        let suppressions = try #require(results[2]["suppressions"] as? [[String: Any]])
        #expect(suppressions.first?["kind"] as? String == "inSource")
        #expect(suppressions.first?["justification"] as? String == "unused since v3")
        #expect(results[3]["suppressions"] == nil)
    }

    @Test func githubAnnotations() {
        let lines = LintRenderer.render(findings, format: .github).split(separator: "\n").map(String.init)
        #expect(lines.count == findings.count)
        #expect(
            lines[0].hasPrefix(
                "::notice file=fleets/demo/changes/0002 email.yaml,line=6,col=5,title=flotilla add-column::ADD COLUMN email_verified boolean DEFAULT false on users: "
            ))
        #expect(
            lines[1].hasPrefix(
                "::warning file=fleets/demo/changes/0002 email.yaml,line=7,col=5,title=flotilla create-index::"))
        #expect(lines[2].hasPrefix("::notice "))
        #expect(lines[2].hasSuffix("[acknowledged: unused since v3]"))
        #expect(
            lines[3].hasPrefix(
                "::error file=fleets/demo/changes/0002 email.yaml,line=9,col=5,title=flotilla alter-column-type::"))
        #expect(
            lines[4].hasPrefix(
                "::error file=x.sql,line=1,col=1,title=flotilla concurrently-in-transaction::CREATE INDEX CONCURRENTLY i on t inside a transaction block: "
            ))
    }

    @Test func githubEscapesNewlinesPercentAndPropertySeparators() {
        let finding = Finding(
            file: "a,b:c.sql", line: 1, column: 2, rule: "statement", risk: .medium, strategy: "s", lock: "l",
            message: "50% done\r\nnext", statement: ""
        )
        let line = LintRenderer.render([finding], format: .github)
        #expect(
            line == "::warning file=a%2Cb%3Ac.sql,line=1,col=2,title=flotilla statement::50%25 done%0D%0Anext (s; l)")
    }
}
