import Yams

/// A YAML value with the place it came from. Flotilla's own tree (Sendable, no Yams types leak out),
/// so every later check can say `path:line:col`.
public struct YAMLNode: Sendable, Hashable {
    public enum Value: Sendable, Hashable {
        case scalar(String, ScalarStyle)
        case mapping([Pair])
        case sequence([YAMLNode])
    }

    public enum ScalarStyle: Sendable, Hashable {
        case plain
        case quoted
        /// `|` or `>`: the text starts on the line after the indicator.
        case block
    }

    public struct Pair: Sendable, Hashable {
        public var key: YAMLNode
        public var value: YAMLNode
    }

    public var value: Value
    public var location: SourceLocation

    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }

    /// The text of a scalar; nil for mappings and sequences.
    public var scalar: String? {
        if case .scalar(let text, _) = value { return text }
        return nil
    }

    /// `null`, `~` or an empty plain scalar.
    public var isNull: Bool {
        if case .scalar(let text, .plain) = value {
            return text.isEmpty || text == "null" || text == "~" || text == "Null" || text == "NULL"
        }
        return false
    }

    public var kindName: String {
        switch value {
        case .scalar(let text, let style):
            if isNull { return "null" }
            if style == .plain {
                if Int(text) != nil { return "a number (\(text))" }
                if ["true", "false"].contains(text.lowercased()) { return "a boolean (\(text))" }
            }
            return "a string ('\(text.count > 40 ? String(text.prefix(40)) + "…" : text)')"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }
}

extension YAMLNode {
    /// Parses one YAML document. Syntax errors become diagnostics at their place.
    public static func parse(_ text: String, file: String) throws(DefinitionError) -> YAMLNode? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw DefinitionError([Self.diagnostic(for: error, file: file)])
        } catch {
            throw DefinitionError([Diagnostic(at: SourceLocation(file: file, line: 1, column: 1), "\(error)")])
        }
        guard let root else { return nil }
        return YAMLNode(root, file: file)
    }

    init(_ node: Node, file: String) {
        let mark = node.mark
        let location = SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
        switch node {
        case .scalar(let scalar):
            let style: ScalarStyle
            switch scalar.style {
            case .plain, .any: style = .plain
            case .literal, .folded: style = .block
            default: style = .quoted
            }
            self.init(.scalar(scalar.string, style), at: location)
        case .mapping(let mapping):
            self.init(
                .mapping(
                    mapping.map { Pair(key: YAMLNode($0.key, file: file), value: YAMLNode($0.value, file: file)) }),
                at: location)
        case .sequence(let sequence):
            self.init(.sequence(sequence.map { YAMLNode($0, file: file) }), at: location)
        case .alias(let alias):
            self.init(.scalar("*\(alias.anchor.rawValue)", .plain), at: location)
        }
    }

    static func diagnostic(for error: YamlError, file: String) -> Diagnostic {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file, line: max(1, mark.line), column: max(1, mark.column))
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
            return Diagnostic(at: at(mark), "YAML syntax error: \(problem)\(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                at: at(context.mark), "duplicate key '\(duplicates.joined(separator: "', '"))' in a mapping")
        case .reader(let problem, _, _, _):
            return Diagnostic(at: SourceLocation(file: file, line: 1, column: 1), "YAML reader error: \(problem)")
        default:
            return Diagnostic(at: SourceLocation(file: file, line: 1, column: 1), "YAML error: \(error)")
        }
    }
}
