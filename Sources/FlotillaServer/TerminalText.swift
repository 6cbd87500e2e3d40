/// Stored text (halt reasons, errors, event and check messages, names) made safe to show: every control character —
/// C0 (U+0000–U+001F, tab and line feed included), DEL (U+007F) and C1 (U+0080–U+009F) — becomes a visible `\xHH`.
///
/// Anyone who can write to the control store (the HTTP API, a tenant's error message) chooses that text; printed as
/// is, an escape sequence in it could clear the screen, move the cursor or hide what the reader should see. One
/// stored line stays one printed line. JSON output does not need it: the encoder escapes control characters.
public func terminalSafe(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var result = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        guard isControl(scalar) else {
            result.append(scalar)
            continue
        }
        let digits = String(scalar.value, radix: 16)
        result.append(contentsOf: "\\x\(digits.count < 2 ? "0" : "")\(digits)".unicodeScalars)
    }
    return String(result)
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
}
