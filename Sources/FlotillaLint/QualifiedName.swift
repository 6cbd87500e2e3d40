/// A possibly schema-qualified object name, each part as PostgreSQL resolves it (unquoted parts folded
/// to lower case, quoted parts kept as written).
struct QualifiedName: Hashable, Sendable, CustomStringConvertible {
    var parts: [String]

    var name: String { parts.last ?? "" }
    var schema: String? { parts.count >= 2 ? parts[parts.count - 2] : nil }

    /// Whether two names can denote the same object: same name, and same schema when both say one.
    func matches(_ other: QualifiedName) -> Bool {
        guard name == other.name else { return false }
        guard let schema, let otherSchema = other.schema else { return true }
        return schema == otherSchema
    }

    var description: String {
        parts.map { part in
            let plain = part.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLowercase || $0.isNumber)) }
            return plain && !(part.first?.isNumber ?? true) ? part : "\"" + part.replacing("\"", with: "\"\"") + "\""
        }
        .joined(separator: ".")
    }
}
