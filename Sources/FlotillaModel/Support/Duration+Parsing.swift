/// Parses `500ms`, `30s`, `5m`, `1h` and sums like `1m30s`. `0` alone is zero.
public func parseDuration(_ text: String) -> Duration? {
    let trimmed = text.trimmingWhitespace()
    if trimmed == "0" { return .zero }
    var total = Duration.zero
    var digits = ""
    var unit = ""
    var parts: [(String, String)] = []
    for character in trimmed {
        if character.isASCII, character.isNumber || character == "." {
            if !unit.isEmpty {
                parts.append((digits, unit))
                digits = ""
                unit = ""
            }
            digits.append(character)
        } else if character.isASCII, character.isLetter {
            guard !digits.isEmpty else { return nil }
            unit.append(character)
        } else {
            return nil
        }
    }
    guard !digits.isEmpty, !unit.isEmpty else { return nil }
    parts.append((digits, unit))
    for (number, unit) in parts {
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        let milliseconds: Double
        switch unit {
        case "ms": milliseconds = value
        case "s": milliseconds = value * 1000
        case "m": milliseconds = value * 60_000
        case "h": milliseconds = value * 3_600_000
        default: return nil
        }
        // Beyond about 290 years a duration is a typo, and Int64 milliseconds would overflow.
        guard milliseconds < 9e15 else { return nil }
        total += .milliseconds(Int64(milliseconds.rounded()))
        guard total < .seconds(9_000_000_000_000) else { return nil }
    }
    return total
}

extension Duration {
    /// Whole milliseconds.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    public var seconds: Double { Double(milliseconds) / 1000 }

    /// `1h`, `5m`, `30s`, `500ms`, `1m30s` — the inverse of `parseDuration`.
    public var flotillaDescription: String {
        var remaining = milliseconds
        if remaining == 0 { return "0s" }
        var text = ""
        for (unit, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000), ("ms", 1)] where remaining >= size {
            text += "\(remaining / size)\(unit)"
            remaining %= size
        }
        return text
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}
