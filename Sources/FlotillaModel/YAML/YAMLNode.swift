// NSLock guards the file names; String.range(of:) in Fleet+Decoding.swift also reaches Foundation only through a
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
    /// The file's name, shared by every node read from it and held without reference counting: a large file is
    /// hundreds of thousands of nodes, each copied and freed a few times.
    unowned(unsafe) var file: FileName
    var line: Int
    var column: Int

    public var location: SourceLocation {
        get { SourceLocation(file: file.name, line: line, column: column) }
        set {
            file = FileName.named(newValue.file)
            line = newValue.line
            column = newValue.column
        }
    }

    public init(_ value: Value, at location: SourceLocation) {
        self.init(value, file: FileName.named(location.file), line: location.line, column: location.column)
    }

    init(_ value: Value, file: FileName, line: Int, column: Int) {
        self.value = value
        self.file = file
        self.line = line
        self.column = column
    }

    public static func == (lhs: YAMLNode, rhs: YAMLNode) -> Bool {
        lhs.line == rhs.line && lhs.column == rhs.column && lhs.file === rhs.file && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(value)
        hasher.combine(ObjectIdentifier(file))
        hasher.combine(line)
        hasher.combine(column)
    }

    /// The text of a scalar; nil for mappings and sequences.
    public var scalar: String? {
        if case .scalar(let text, _) = value { return text }
        return nil
    }

    /// `null`, `~` or an empty plain scalar.
    public var isNull: Bool {
        if case .scalar(let text, .plain) = value {
            // By length first: most values are none of these.
            switch text.utf8.count {
            case 0: return true
            case 1: return text == "~"
            case 4: return text == "null" || text == "Null" || text == "NULL"
            default: return false
            }
        }
        return false
    }

    /// Whether this is a scalar key named `name`.
    func isKey(_ name: String) -> Bool {
        guard case .scalar(let text, _) = value else { return false }
        return text.utf8.count == name.utf8.count && text == name
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

/// A file's name as nodes hold it: one object per name for the life of the process (names are few; every node
/// read from a file points at the same one), so nodes can refer to it without counting references.
final class FileName: Sendable {
    let name: String

    private init(_ name: String) {
        self.name = name
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var names: [String: FileName] = [:]

    /// The one object for `name`.
    static func named(_ name: String) -> FileName {
        lock.lock()
        defer { lock.unlock() }
        if let known = names[name] { return known }
        let made = FileName(name)
        names[name] = made
        return made
    }
}

extension YAMLNode {
    /// Parses one YAML document. Syntax errors, duplicate keys, aliases that would repeat too much and nesting too
    /// deep become diagnostics at their place.
    public static func parse(_ text: String, file: String) throws(DefinitionError) -> YAMLNode? {
        try YAMLComposer.compose(text, file: file)
    }
}
