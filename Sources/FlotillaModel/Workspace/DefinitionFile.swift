/// What a definition file may be before it is parsed: how large, and in which encoding.
public enum DefinitionFile {
    public enum Kind: String, Sendable, CaseIterable {
        case fleet, change, policy

        /// The most bytes Flotilla reads for a file of this kind. A fleet may list 100,000 tenants one per line
        /// (6–8 MiB written out), so it gets 32 MiB; a change or a policy is hand-written SQL and settings, a few
        /// kilobytes, so 1 MiB is far more than any real one and still cheap to parse, lint and checksum.
        public var maxBytes: Int {
            switch self {
            case .fleet: 32 << 20
            case .change, .policy: 1 << 20
            }
        }
    }

    /// The largest file of any kind, for reading a file whose kind is known only from its text.
    public static let maxBytes = Kind.allCases.map(\.maxBytes).max() ?? 0

    /// Refuses a file larger than a `kind` allows (nil: larger than any kind allows), naming its size.
    public static func checkSize(_ byteCount: Int, of kind: Kind?, file: String) throws(DefinitionError) {
        let limit = kind?.maxBytes ?? maxBytes
        guard byteCount > limit else { return }
        throw DefinitionError([
            Diagnostic(
                at: SourceLocation(file: file, line: 1, column: 1),
                "file is \(mebibytes(byteCount)) (\(byteCount) bytes); Flotilla reads at most \(limit >> 20) MiB "
                    + (kind.map { "for a \($0.rawValue)" } ?? "for any definition file"))
        ])
    }

    /// `10.0 MiB`, rounded to a tenth.
    static func mebibytes(_ byteCount: Int) -> String {
        let tenths = (byteCount * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MiB"
    }

    /// The text of a file's bytes. UTF-8, with or without a byte order mark; anything else is refused at the first
    /// byte that is not UTF-8, so the user can find it. UTF-16 is refused rather than decoded: YAML allows it, but
    /// the files are checksummed and diffed as text, and one encoding keeps every tool that reads them in agreement.
    public static func text(of bytes: [UInt8], file: String) throws(DefinitionError) -> String {
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
            throw DefinitionError([
                Diagnostic(
                    at: SourceLocation(file: file, line: 1, column: 1),
                    "the file is UTF-16 text (it starts with a UTF-16 byte order mark); UTF-16 is not supported, "
                        + "save it as UTF-8")
            ])
        }
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...]
        // The standard library checks UTF-8 (the same well-formed sequences) many times faster; the byte by byte
        // walk below is only to say where a file goes wrong.
        if let text = String(validating: body, as: UTF8.self) { return text }
        guard let (offset, location) = firstInvalidByte(in: body, file: file) else {
            return String(decoding: body, as: UTF8.self)
        }
        let byte = String(body[offset], radix: 16, uppercase: true)
        throw DefinitionError([
            Diagnostic(
                at: location,
                "not UTF-8 text: byte 0x\(byte.count == 1 ? "0" + byte : byte) at line \(location.line), "
                    + "column \(location.column); save the file as UTF-8")
        ])
    }

    /// The index and place of the first byte that does not start well-formed UTF-8 (Unicode table 3-7), with the
    /// column counted in characters as YAML places are; nil when all of it is UTF-8. A sequence cut short is shown
    /// by its first byte, the one that promised more.
    static func firstInvalidByte(in bytes: ArraySlice<UInt8>, file: String) -> (Int, SourceLocation)? {
        var line = 1
        var column = 1
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let lead = bytes[index]
            // The sequence length and the allowed range of the second byte, by the lead byte.
            let length: Int
            var second: ClosedRange<UInt8> = 0x80...0xBF
            switch lead {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                second = 0xA0...0xBF
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                second = 0x80...0x9F
            case 0xF0:
                length = 4
                second = 0x90...0xBF
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                second = 0x80...0x8F
            default: return (index, SourceLocation(file: file, line: line, column: column))
            }
            for offset in 1..<length {
                let position = index + offset
                let allowed = offset == 1 ? second : 0x80...0xBF
                guard position < bytes.endIndex, allowed.contains(bytes[position]) else {
                    return (index, SourceLocation(file: file, line: line, column: column))
                }
            }
            if lead == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else {
                column += 1
            }
            index += length
        }
        return nil
    }
}
