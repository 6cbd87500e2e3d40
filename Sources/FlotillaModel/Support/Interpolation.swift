/// Why `${…}` substitution failed, and where in the string.
public struct InterpolationFailure: Error, Sendable, Hashable {
    public var message: String
    /// Character offset of the problem inside the string.
    public var offset: Int
}

/// Replaces `${NAME}` and `${NAME:-default}` (default when unset or empty) from `environment`. `$$` is a literal `$`.
///
/// `${NAME}` with `NAME` unset is a failure naming it: a secret or a host that was forgotten must not quietly become
/// an empty string. `${NAME:-}` says "empty when unset" on purpose.
public func interpolate(_ text: String, environment: [String: String]) -> Result<String, InterpolationFailure> {
    guard text.contains("$") else { return .success(text) }
    var output = ""
    let characters = Array(text)
    var index = 0
    while index < characters.count {
        let character = characters[index]
        guard character == "$", index + 1 < characters.count else {
            output.append(character)
            index += 1
            continue
        }
        let next = characters[index + 1]
        if next == "$" {
            output.append("$")
            index += 2
            continue
        }
        guard next == "{" else {
            output.append(character)
            index += 1
            continue
        }
        guard let close = characters[(index + 2)...].firstIndex(of: "}") else {
            return .failure(
                InterpolationFailure(message: "unterminated '${' (expected '}' to close it)", offset: index))
        }
        let body = String(characters[(index + 2)..<close])
        var name = body
        var fallback: String?
        if let range = body.range(of: ":-") {
            name = String(body[..<range.lowerBound])
            fallback = String(body[range.upperBound...])
        }
        guard let first = name.first, first == "_" || first.isLetter,
            name.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber })
        else {
            return .failure(
                InterpolationFailure(
                    message: "invalid variable name '\(name)' in '${\(body)}' (expected letters, digits and _)",
                    offset: index))
        }
        let value = environment[name]
        if let fallback, value?.isEmpty ?? true {
            output += fallback
        } else if let value {
            output += value
        } else {
            return .failure(
                InterpolationFailure(
                    message:
                        "environment variable '\(name)' is not set; set it, or write ${\(name):-} for an empty value "
                        + "or ${\(name):-default} for a default",
                    offset: index))
        }
        index = close + 1
    }
    return .success(output)
}
