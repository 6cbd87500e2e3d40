import Foundation

/// `{"findings":[…]}`, keys sorted, every finding key always present.
enum JSONRenderer {
    private struct Document: Encodable {
        var findings: [Finding]
    }

    static func render(_ findings: [Finding]) -> String {
        encode(Document(findings: findings))
    }

    /// Stable, readable JSON: sorted keys, pretty-printed, slashes unescaped.
    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
