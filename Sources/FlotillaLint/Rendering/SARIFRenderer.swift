/// SARIF 2.1.0 for code scanning: every rule in `tool.driver.rules`, one result per finding, acknowledged
/// findings with an in-source suppression.
enum SARIFRenderer {
    static let schema = "https://json.schemastore.org/sarif-2.1.0.json"

    /// SARIF's `level` for a risk: error for high and error, warning for medium, note for low.
    static func level(_ risk: Risk) -> String {
        switch risk {
        case .error, .high: "error"
        case .medium: "warning"
        case .low: "note"
        }
    }

    static func render(_ findings: [Finding], rules: [RuleDescription]) -> String {
        let index = Dictionary(rules.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
        let log = Log(
            runs: [
                Run(
                    tool: Tool(
                        driver: Driver(
                            rules: rules.map { rule in
                                ReportingDescriptor(
                                    id: rule.id, shortDescription: Message(text: rule.summary),
                                    defaultConfiguration: Configuration(level: level(rule.risk)),
                                    properties: RuleProperties(
                                        risk: rule.risk, strategy: rule.strategy, lock: rule.lock)
                                )
                            }
                        )
                    ),
                    results: findings.map { finding in
                        Result(
                            ruleId: finding.rule, ruleIndex: index[finding.rule], level: level(finding.risk),
                            message: Message(text: "\(finding.message) (\(finding.strategy); \(finding.lock))"),
                            locations: [
                                Location(
                                    physicalLocation: PhysicalLocation(
                                        artifactLocation: ArtifactLocation(uri: uri(finding.file)),
                                        region: Region(startLine: finding.line, startColumn: finding.column)
                                    )
                                )
                            ],
                            suppressions: finding.acknowledged.map { [Suppression(justification: $0)] },
                            properties: ResultProperties(
                                risk: finding.risk, strategy: finding.strategy, lock: finding.lock,
                                phase: finding.phase, statement: finding.statement, traced: finding.traced,
                                judged: finding.judged
                            )
                        )
                    }
                )
            ]
        )
        return JSONRenderer.encode(log)
    }

    /// A relative or absolute path as a URI reference: characters outside RFC 3986's unreserved set and
    /// `/` are percent-encoded.
    static func uri(_ path: String) -> String {
        var result = ""
        for byte in path.utf8 {
            let scalar = Unicode.Scalar(byte)
            if byte < 0x80,
                scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                    || "-._~/".unicodeScalars.contains(scalar)
            {
                result.unicodeScalars.append(scalar)
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }

    // MARK: - The SARIF objects used

    private struct Log: Encodable {
        var schema = SARIFRenderer.schema
        var version = "2.1.0"
        var runs: [Run]

        enum CodingKeys: String, CodingKey {
            case schema = "$schema"
            case version, runs
        }
    }

    private struct Run: Encodable {
        var tool: Tool
        var results: [Result]
    }

    private struct Tool: Encodable {
        var driver: Driver
    }

    private struct Driver: Encodable {
        var name = "flotilla"
        var rules: [ReportingDescriptor]
    }

    private struct ReportingDescriptor: Encodable {
        var id: String
        var shortDescription: Message
        var defaultConfiguration: Configuration
        var properties: RuleProperties
    }

    private struct Configuration: Encodable {
        var level: String
    }

    private struct RuleProperties: Encodable {
        var risk: Risk
        var strategy: String
        var lock: String
    }

    private struct Message: Encodable {
        var text: String
    }

    private struct Result: Encodable {
        var ruleId: String
        var ruleIndex: Int?
        var level: String
        var message: Message
        var locations: [Location]
        var suppressions: [Suppression]?
        var properties: ResultProperties
    }

    private struct Location: Encodable {
        var physicalLocation: PhysicalLocation
    }

    private struct PhysicalLocation: Encodable {
        var artifactLocation: ArtifactLocation
        var region: Region
    }

    private struct ArtifactLocation: Encodable {
        var uri: String
    }

    private struct Region: Encodable {
        var startLine: Int
        var startColumn: Int
    }

    private struct Suppression: Encodable {
        var kind = "inSource"
        var justification: String
    }

    private struct ResultProperties: Encodable {
        var risk: Risk
        var strategy: String
        var lock: String
        var phase: String?
        var statement: String
        /// Only with `lint --trace`; absent otherwise.
        var traced: Finding.Traced?
        /// Only with `lint --fleet`; absent otherwise.
        var judged: Finding.Judged?
    }
}
