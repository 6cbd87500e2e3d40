/// GitHub Actions workflow commands, one per finding:
/// `::error file=F,line=L,col=C,title=flotilla RULE::message (strategy; lock)`.
/// error for high and error, warning for medium, notice for low and for acknowledged findings.
enum GitHubRenderer {
    static func command(for finding: Finding) -> String {
        if finding.acknowledged != nil { return "notice" }
        switch finding.risk {
        case .error, .high: return "error"
        case .medium: return "warning"
        case .low: return "notice"
        }
    }

    static func render(_ findings: [Finding]) -> String {
        findings.map { finding in
            let properties = [
                "file=\(escapeProperty(finding.file))", "line=\(finding.line)", "col=\(finding.column)",
                "title=\(escapeProperty("flotilla \(finding.rule)"))",
            ]
            var message = "\(finding.message) (\(finding.strategy); \(finding.lock))"
            if let reason = finding.acknowledged { message += " [acknowledged: \(reason)]" }
            if let judged = finding.judged { message += " " + TextRenderer.judgedNote(judged) }
            return "::\(command(for: finding)) \(properties.joined(separator: ","))::\(escapeData(message))"
        }
        .joined(separator: "\n")
    }

    /// The escaping of a workflow command's message.
    static func escapeData(_ text: String) -> String {
        escape(text, ["%": "%25", "\r": "%0D", "\n": "%0A"])
    }

    /// The escaping of a workflow command's property value.
    static func escapeProperty(_ text: String) -> String {
        escape(text, ["%": "%25", "\r": "%0D", "\n": "%0A", ":": "%3A", ",": "%2C"])
    }

    /// Scalar by scalar, so that a `\r\n` (one `Character`) is escaped too.
    private static func escape(_ text: String, _ replacements: [Unicode.Scalar: String]) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if let replacement = replacements[scalar] {
                result += replacement
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
