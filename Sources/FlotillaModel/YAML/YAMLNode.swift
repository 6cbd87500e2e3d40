// Nothing here needs Foundation, but String.range(of:) in Fleet+Decoding.swift reaches it only through a
// module-wide import, which this file made (through Yams) before YAML was read from libyaml's events directly.
import Foundation

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
    /// Parses one YAML document. Syntax errors, duplicate keys, aliases that would repeat too much and nesting too
    /// deep become diagnostics at their place.
    public static func parse(_ text: String, file: String) throws(DefinitionError) -> YAMLNode? {
        try YAMLComposer.compose(text, file: file)
    }
}
