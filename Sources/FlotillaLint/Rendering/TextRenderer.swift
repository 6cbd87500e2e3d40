/// `file:line:col: high: [rule] message (strategy; lock)` per finding, then a summary line.
enum TextRenderer {
    static func render(_ findings: [Finding]) -> String {
        var lines = findings.map { finding in
            var line =
                "\(finding.file):\(finding.line):\(finding.column): \(finding.risk.rawValue): [\(finding.rule)] "
                + "\(finding.message) (\(finding.strategy); \(finding.lock))"
            if let reason = finding.acknowledged { line += " [acknowledged: \(reason)]" }
            if let judged = finding.judged { line += " " + judgedNote(judged) }
            return line
        }
        lines.append(summary(findings))
        return lines.joined(separator: "\n")
    }

    /// `[judged on tenant t1 (shard s1): users, 300 rows; was high]`.
    static func judgedNote(_ judged: Finding.Judged) -> String {
        var parts = ["judged on tenant \(judged.tenant) (shard \(judged.shard))"]
        if let table = judged.table {
            parts[0] += ": \(table)" + (judged.rows.map { ", \($0) rows" } ?? "")
        }
        if judged.reason != nil { parts.append("was \(judged.staticRisk.rawValue)") }
        return "[" + parts.joined(separator: "; ") + "]"
    }

    /// `5 findings: 1 error, 2 high, 1 medium, 1 low (1 acknowledged)`.
    static func summary(_ findings: [Finding]) -> String {
        let counts = Risk.allCases.reversed().map { risk in
            "\(findings.filter { $0.risk == risk }.count) \(risk.rawValue)"
        }
        let acknowledged = findings.filter { $0.acknowledged != nil }.count
        let noun = findings.count == 1 ? "finding" : "findings"
        return "\(findings.count) \(noun): \(counts.joined(separator: ", ")) (\(acknowledged) acknowledged)"
    }
}
