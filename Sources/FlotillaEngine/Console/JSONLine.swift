import Foundation

/// A JSON value whose object keys keep their order: the event stream's lines and the JSON Schema of its events are
/// written with it, so that their fields come in the order the README documents.
public indirect enum JSONLine: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSONLine])
    case object([(String, JSONLine)])

    public static func == (lhs: JSONLine, rhs: JSONLine) -> Bool {
        lhs.compact == rhs.compact
    }

    /// On one line, no spaces: one NDJSON record.
    public var compact: String {
        var text = ""
        write(into: &text, indent: nil, depth: 0)
        return text
    }

    /// Indented by two spaces, for files people read (the JSON Schema).
    public var pretty: String {
        var text = ""
        write(into: &text, indent: "  ", depth: 0)
        return text
    }

    private func write(into text: inout String, indent: String?, depth: Int) {
        switch self {
        case .string(let value): Self.quote(value, into: &text)
        case .int(let value): text += String(value)
        case .double(let value):
            text +=
                value.isFinite
                ? (value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)") : "null"
        case .bool(let value): text += value ? "true" : "false"
        case .null: text += "null"
        case .array(let items):
            guard !items.isEmpty else {
                text += "[]"
                return
            }
            text += "["
            for (index, item) in items.enumerated() {
                if index > 0 { text += "," }
                Self.newline(&text, indent: indent, depth: depth + 1)
                item.write(into: &text, indent: indent, depth: depth + 1)
            }
            Self.newline(&text, indent: indent, depth: depth)
            text += "]"
        case .object(let fields):
            guard !fields.isEmpty else {
                text += "{}"
                return
            }
            text += "{"
            for (index, (key, value)) in fields.enumerated() {
                if index > 0 { text += "," }
                Self.newline(&text, indent: indent, depth: depth + 1)
                Self.quote(key, into: &text)
                text += indent == nil ? ":" : ": "
                value.write(into: &text, indent: indent, depth: depth + 1)
            }
            Self.newline(&text, indent: indent, depth: depth)
            text += "}"
        }
    }

    private static func newline(_ text: inout String, indent: String?, depth: Int) {
        guard let indent else { return }
        text += "\n" + String(repeating: indent, count: depth)
    }

    /// A JSON string: quote and backslash escaped, and every control character (C0, DEL, C1) as `\uXXXX`, so that
    /// a stored name or error can never reach a terminal as an escape sequence, and a line stays one line.
    static func quote(_ value: String, into text: inout String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    let digits = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }
}
