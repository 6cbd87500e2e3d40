import FlotillaLint
import FlotillaModel
import Testing

@Suite("Policy risk thresholds")
struct PolicyRiskTests {
    let head = "policy: p\nwaves:\n  - {name: all, select: {remaining: true}}\n"

    @Test func defaultsAreTheIssuesFigures() throws {
        let policy = try Policy.parse(head, file: "p.yaml")
        #expect(policy.risk == RiskThresholds(rowsMedium: 100_000, rowsHigh: 10_000_000))
    }

    @Test func thresholdsAreRead() throws {
        let policy = try Policy.parse(head + "risk: {rows_medium: 1000, rows_high: 100000}\n", file: "p.yaml")
        #expect(policy.risk == RiskThresholds(rowsMedium: 1000, rowsHigh: 100_000))
        let one = try Policy.parse(head + "risk:\n  rows_high: 50000000\n", file: "p.yaml")
        #expect(one.risk == RiskThresholds(rowsMedium: 100_000, rowsHigh: 50_000_000))
    }

    @Test(arguments: [
        ("risk: {rows_medium: 1000, rows_high: 10}\n", 4, 38, "rows_high (10) must be at least rows_medium (1000)"),
        ("risk: {rows_medium: -5}\n", 4, 21, "expected a number of at least 0, found -5"),
        ("risk: {rows_medium: lots}\n", 4, 21, "expected a whole number"),
        ("risk: {rows_low: 5}\n", 4, 8, "unknown key 'rows_low'"),
    ])
    func badValuesAreDiagnosedWhereTheyAre(yaml: String, line: Int, column: Int, message: String) throws {
        do {
            _ = try Policy.parse(head + yaml, file: "p.yaml")
            Issue.record("accepted \(yaml)")
        } catch {
            let diagnostic = try #require(error.diagnostics.first)
            #expect(diagnostic.location.line == line)
            #expect(diagnostic.location.column == column)
            #expect(diagnostic.message.contains(message), "\(diagnostic.message)")
            #expect(diagnostic.description.hasPrefix("p.yaml:\(line):\(column): error:"))
        }
    }
}
