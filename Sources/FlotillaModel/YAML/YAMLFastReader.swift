/// Reads the plain shape most definition files have straight into a `YAMLNode` tree, many times faster than libyaml's
/// events: block mappings and sequences, one-line flow mappings and sequences, plain and quoted one-line scalars, and
/// comments, in ASCII text. Anything else (anchors, aliases, tags, block scalars `|` `>`, scalars over several lines,
/// escapes, an empty value, a repeated key, tabs, document markers, non-ASCII text, nesting past the limit, or any
/// syntax error) makes it give up, and the file is read by libyaml instead, which reports problems at their place.
///
/// What it gives is the tree the libyaml path gives for the same text: the same values, styles and places (columns
/// count characters, which in ASCII are bytes). The tests compare both on every example file and many variants.
struct YAMLFastReader {
    /// Thrown to give up; the caller reads the file with libyaml.
    struct Unsupported: Error {}

    let bytes: UnsafeBufferPointer<UInt8>
    let file: String
    let fileName: FileName
    var position = 0
    var line = 1
    /// Where the current line starts.
    var lineStart = 0
    /// As in `YAMLComposer`: each collection's values gathered here, moved out once at their size.
    let itemStack = MovingStack<YAMLNode>()
    let pairStack = MovingStack<YAMLNode.Pair>()

    /// The longest key libyaml takes as a simple key is 1,024 characters; longer ones are left to it.
    static let maxKeyLength = 1000

    init(bytes: UnsafeBufferPointer<UInt8>, file: String) {
        self.bytes = bytes
        self.file = file
        fileName = FileName.named(file)
    }

    /// The document's tree, or nil when the text is not of the plain shape read here.
    static func read(_ bytes: UnsafeBufferPointer<UInt8>, file: String) -> YAMLNode? {
        // Printable ASCII and line feeds only: no tabs, carriage returns, other controls or non-ASCII characters.
        guard plainASCII(bytes) else { return nil }
        var reader = YAMLFastReader(bytes: bytes, file: file)
        do {
            return try reader.document()
        } catch {
            return nil
        }
    }

    // MARK: bytes and places

    var atEnd: Bool { position >= bytes.count }

    func byte(at index: Int) -> UInt8 { index < bytes.count ? bytes[index] : 0 }

    var current: UInt8 { byte(at: position) }

    /// The current place, for a node.
    var place: Place { Place(line: line, column: position - lineStart + 1) }

    struct Place {
        var line: Int
        var column: Int
    }

    func node(_ value: YAMLNode.Value, at place: Place) -> YAMLNode {
        YAMLNode(value, file: fileName, line: place.line, column: place.column)
    }

    /// Space, line feed or the end: what libyaml calls blank or "z".
    func isBlankOrEnd(at index: Int) -> Bool {
        let value = byte(at: index)
        return value == UInt8(ascii: " ") || value == 0x0A || index >= bytes.count
    }

    mutating func skipSpaces() {
        while position < bytes.count, bytes[position] == UInt8(ascii: " ") { position += 1 }
    }

    /// Moves past the line feed at `position` (or stays at the end).
    mutating func newLine() {
        guard position < bytes.count else { return }
        position += 1
        line += 1
        lineStart = position
    }

    /// From the start of a line (or the end of a value on it), past blank and comment lines to the first character
    /// of the next line with content; its indentation, or nil at the end of the text.
    mutating func nextContent() throws(Unsupported) -> Int? {
        while true {
            skipSpaces()
            if atEnd { return nil }
            if current == 0x0A {
                newLine()
                continue
            }
            if current == UInt8(ascii: "#") {
                // A comment runs to the end of the line; libyaml takes `#` as one after spaces or at a line's start.
                guard position == lineStart || bytes[position - 1] == UInt8(ascii: " ") else { throw Unsupported() }
                while position < bytes.count, bytes[position] != 0x0A { position += 1 }
                continue
            }
            let indent = position - lineStart
            if indent == 0 {
                // Directives and document markers are left to libyaml.
                if current == UInt8(ascii: "%") { throw Unsupported() }
                if (current == UInt8(ascii: "-") || current == UInt8(ascii: ".")) && byte(at: position + 1) == current
                    && byte(at: position + 2) == current
                {
                    throw Unsupported()
                }
            }
            return indent
        }
    }

    /// After a value: spaces, perhaps a comment, then the end of the line, which is passed.
    mutating func endOfLine() throws(Unsupported) {
        let before = position
        skipSpaces()
        if current == UInt8(ascii: "#") {
            guard position > before else { throw Unsupported() }
            while position < bytes.count, bytes[position] != 0x0A { position += 1 }
        }
        guard atEnd || current == 0x0A else { throw Unsupported() }
        newLine()
    }

    func text(_ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    func checkDepth(_ depth: Int) throws(Unsupported) {
        if depth > YAMLComposer.maxDepth { throw Unsupported() }
    }

    // MARK: block structure

    mutating func document() throws(Unsupported) -> YAMLNode {
        guard let indent = try nextContent(), indent == 0 else { throw Unsupported() }
        let root = try blockNode(indent: 0, depth: 1)
        guard atEnd else { throw Unsupported() }
        return root
    }

    /// `- ` (or `-` at the end of a line) at `position`.
    func isEntry() -> Bool { current == UInt8(ascii: "-") && isBlankOrEnd(at: position + 1) }

    /// A block mapping's key at `position`: a plain scalar without spaces followed by `: ` or `:` at the line's end;
    /// where it ends (at the colon), or nil.
    func blockKeyEnd() -> Int? {
        guard canStartPlain(at: position) else { return nil }
        var index = position
        while index < bytes.count {
            let value = bytes[index]
            if value == UInt8(ascii: ":") && isBlankOrEnd(at: index + 1) {
                return index - position <= Self.maxKeyLength ? index : nil
            }
            if value == UInt8(ascii: " ") || value == 0x0A { return nil }
            index += 1
        }
        return nil
    }

    /// A block node at `position`, the first character of a line indented `indent`. Afterwards `position` is at the
    /// first character of the next line with content, or at the end.
    mutating func blockNode(indent: Int, depth: Int) throws(Unsupported) -> YAMLNode {
        if isEntry() { return try blockSequence(indent: indent, depth: depth) }
        if blockKeyEnd() != nil { return try blockMapping(indent: indent, depth: depth) }
        throw Unsupported()
    }

    mutating func blockSequence(indent: Int, depth: Int) throws(Unsupported) -> YAMLNode {
        try checkDepth(depth)
        let start = itemStack.count
        let opening = place
        while true {
            position += 1
            skipSpaces()
            // An entry with nothing after it on its line, or an entry that is itself a sequence, is left to libyaml.
            if atEnd || current == 0x0A || current == UInt8(ascii: "#") || isEntry() { throw Unsupported() }
            let item: YAMLNode
            if blockKeyEnd() != nil {
                item = try blockMapping(indent: position - lineStart, depth: depth + 1)
            } else {
                item = try inlineValue(depth: depth + 1)
                try endOfLine()
                _ = try nextContent()
            }
            itemStack.push(item)
            if atEnd { break }
            let next = position - lineStart
            if next < indent { break }
            guard next == indent, isEntry() else { throw Unsupported() }
        }
        let items = itemStack.take(from: start)
        return node(.sequence(items), at: opening)
    }

    mutating func blockMapping(indent: Int, depth: Int) throws(Unsupported) -> YAMLNode {
        try checkDepth(depth)
        let start = pairStack.count
        let opening = place
        while true {
            guard let keyEnd = blockKeyEnd() else { throw Unsupported() }
            let name = text(position, keyEnd)
            let key = node(.scalar(name, .plain), at: place)
            try checkNewKey(name, since: start)
            position = keyEnd + 1
            skipSpaces()
            let value: YAMLNode
            if atEnd || current == 0x0A || current == UInt8(ascii: "#") {
                // Nothing more on the key's line but perhaps a comment (after the spaces just passed).
                while position < bytes.count, bytes[position] != 0x0A { position += 1 }
                newLine()
                // The value is the block on the lines below, indented further; an empty value (null) and a sequence
                // at the key's own indentation are left to libyaml.
                guard let next = try nextContent(), next > indent else { throw Unsupported() }
                value = try blockNode(indent: next, depth: depth + 1)
            } else {
                value = try inlineValue(depth: depth + 1)
                try endOfLine()
                _ = try nextContent()
            }
            pairStack.push(YAMLNode.Pair(key: key, value: value))
            if atEnd { break }
            let next = position - lineStart
            if next < indent { break }
            guard next == indent else { throw Unsupported() }
        }
        let pairs = pairStack.take(from: start)
        return node(.mapping(pairs), at: opening)
    }

    /// A repeated key is left to libyaml's path, which reports it.
    func checkNewKey(_ name: String, since start: Int) throws(Unsupported) {
        // Flotilla's mappings have a handful of keys; a long one is left to the composer, which hashes them.
        if pairStack.count - start >= YAMLComposer.keysSearchedInPlace { throw Unsupported() }
        if pairStack.contains(from: start, where: { $0.key.isKey(name) }) { throw Unsupported() }
    }

    // MARK: values on one line

    /// A value that starts and ends on the current line: a flow collection or a scalar.
    mutating func inlineValue(depth: Int) throws(Unsupported) -> YAMLNode {
        switch current {
        case UInt8(ascii: "{"): return try flowMapping(depth: depth)
        case UInt8(ascii: "["): return try flowSequence(depth: depth)
        case UInt8(ascii: "\""), UInt8(ascii: "'"): return try quoted()
        default: return try plain(flow: false)
        }
    }

    /// Whether libyaml starts a plain scalar at `index` (questions and colons at the start are left to it).
    func canStartPlain(at index: Int) -> Bool {
        switch byte(at: index) {
        case UInt8(ascii: "-"):
            let next = byte(at: index + 1)
            return next != UInt8(ascii: " ") && next != 0x0A && index + 1 < bytes.count
                && !Self.isIndicator(next)
        case UInt8(ascii: " "), 0x0A, 0: return false
        case let value: return !Self.isIndicator(value)
        }
    }

    static func isIndicator(_ value: UInt8) -> Bool {
        switch value {
        case UInt8(ascii: "-"), UInt8(ascii: "?"), UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "["),
            UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "#"), UInt8(ascii: "&"),
            UInt8(ascii: "*"), UInt8(ascii: "!"), UInt8(ascii: "|"), UInt8(ascii: ">"), UInt8(ascii: "'"),
            UInt8(ascii: "\""), UInt8(ascii: "%"), UInt8(ascii: "@"), UInt8(ascii: "`"):
            return true
        default:
            return false
        }
    }

    static let specialInBlock: UInt8 = 1
    static let specialInFlow: UInt8 = 3
    /// Per byte: `specialInBlock` for line feed, space, `#` and `:`; the next bit for `,[]{}`.
    static let byteKinds: [UInt8] = (0...255).map { value in
        switch UInt8(value) {
        case 0x0A, UInt8(ascii: " "), UInt8(ascii: "#"), UInt8(ascii: ":"): return 1
        case UInt8(ascii: ","), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"): return 2
        default: return 0
        }
    }

    /// Whether every byte is printable ASCII or a line feed, eight bytes at a time.
    static func plainASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        var index = 0
        if let base = UnsafeRawPointer(bytes.baseAddress) {
            while index + 8 <= bytes.count {
                let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                // A byte below 0x20 or from 0x7F up sets its top bit in `flags` (others may too, after one does);
                // such a word is looked at byte by byte.
                let flags = ((word &- ones &* 0x20) & ~word) | (word &+ ones) | word
                if flags & (ones &* 0x80) != 0 {
                    for offset in index..<index + 8 where !isPlainASCII(bytes[offset]) { return false }
                }
                index += 8
            }
        }
        for offset in index..<bytes.count where !isPlainASCII(bytes[offset]) { return false }
        return true
    }

    static func isPlainASCII(_ byte: UInt8) -> Bool { (0x20...0x7E).contains(byte) || byte == 0x0A }

    static func isFlowIndicator(_ value: UInt8) -> Bool {
        value == UInt8(ascii: ",") || value == UInt8(ascii: "[") || value == UInt8(ascii: "]")
            || value == UInt8(ascii: "{") || value == UInt8(ascii: "}")
    }

    /// A plain scalar on one line. In a flow collection it ends at `,[]{}` or `: `; anywhere it ends at ` #` or the
    /// line's end, without the spaces before. A `: ` in a block value (a mapping where none may start) is left to
    /// libyaml, as are a `:` before a flow indicator and a comment inside a flow collection.
    mutating func plain(flow: Bool) throws(Unsupported) -> YAMLNode {
        guard canStartPlain(at: position) else { throw Unsupported() }
        let opening = place
        let start = position
        var end = position
        // Bytes that need a look in a block scalar (line feed, space, `#`, `:`), and in a flow one also `,[]{}`.
        let special = flow ? Self.specialInFlow : Self.specialInBlock
        while position < bytes.count {
            let value = bytes[position]
            if Self.byteKinds[Int(value)] & special == 0 {
                position += 1
                end = position
                continue
            }
            if value == 0x0A { break }
            if value == UInt8(ascii: " ") {
                position += 1
                continue
            }
            if value == UInt8(ascii: "#") && bytes[position - 1] == UInt8(ascii: " ") {
                if flow { throw Unsupported() }
                break
            }
            if value == UInt8(ascii: ":") {
                let next = byte(at: position + 1)
                if next == UInt8(ascii: " ") || next == 0x0A || position + 1 >= bytes.count {
                    if flow { break }
                    throw Unsupported()
                }
                if flow && (Self.isFlowIndicator(next) || next == UInt8(ascii: "?")) { throw Unsupported() }
            }
            if flow && Self.isFlowIndicator(value) { break }
            position += 1
            end = position
        }
        // A flow collection closes on its line. (A block scalar that goes on to the next line, indented further, is
        // found by the block readers, which leave any line indented past its block to libyaml.)
        if flow && (atEnd || current == 0x0A) { throw Unsupported() }
        position = end
        return node(.scalar(text(start, end), .plain), at: opening)
    }

    /// A quoted scalar on one line: `"…"` without escapes, or `'…'` without a doubled quote.
    mutating func quoted() throws(Unsupported) -> YAMLNode {
        let opening = place
        let quote = current
        let start = position + 1
        var index = start
        while true {
            guard index < bytes.count else { throw Unsupported() }
            let value = bytes[index]
            if value == quote { break }
            if value == 0x0A || (quote == UInt8(ascii: "\"") && value == UInt8(ascii: "\\")) { throw Unsupported() }
            index += 1
        }
        if quote == UInt8(ascii: "'") && byte(at: index + 1) == quote { throw Unsupported() }
        position = index + 1
        return node(.scalar(text(start, index), .quoted), at: opening)
    }

    // MARK: flow collections

    /// Spaces inside a flow collection; it must close on the line it opens.
    mutating func skipFlowSpaces() throws(Unsupported) {
        skipSpaces()
        if atEnd || current == 0x0A || current == UInt8(ascii: "#") { throw Unsupported() }
    }

    mutating func flowNode(depth: Int) throws(Unsupported) -> YAMLNode {
        switch current {
        case UInt8(ascii: "{"): return try flowMapping(depth: depth)
        case UInt8(ascii: "["): return try flowSequence(depth: depth)
        case UInt8(ascii: "\""), UInt8(ascii: "'"): return try quoted()
        default: return try plain(flow: true)
        }
    }

    mutating func flowMapping(depth: Int) throws(Unsupported) -> YAMLNode {
        try checkDepth(depth)
        let opening = place
        let start = pairStack.count
        position += 1
        try skipFlowSpaces()
        if current != UInt8(ascii: "}") {
            while true {
                let keyStart = position
                let key: YAMLNode
                switch current {
                case UInt8(ascii: "\""), UInt8(ascii: "'"): key = try quoted()
                default: key = try plain(flow: true)
                }
                guard let name = key.scalar else { throw Unsupported() }
                try checkNewKey(name, since: start)
                try skipFlowSpaces()
                // `key: value`; a key without a value, or a colon not followed by a space, is left to libyaml, and
                // so is a colon too far from its key's start for libyaml to take the key as a simple key.
                guard current == UInt8(ascii: ":"), byte(at: position + 1) == UInt8(ascii: " "),
                    position - keyStart <= Self.maxKeyLength
                else {
                    throw Unsupported()
                }
                position += 1
                try skipFlowSpaces()
                if current == UInt8(ascii: ",") || current == UInt8(ascii: "}") { throw Unsupported() }
                let value = try flowNode(depth: depth + 1)
                pairStack.push(YAMLNode.Pair(key: key, value: value))
                try skipFlowSpaces()
                if current == UInt8(ascii: "}") { break }
                guard current == UInt8(ascii: ",") else { throw Unsupported() }
                position += 1
                try skipFlowSpaces()
                if current == UInt8(ascii: "}") || current == UInt8(ascii: ",") { throw Unsupported() }
            }
        }
        position += 1
        let pairs = pairStack.take(from: start)
        return node(.mapping(pairs), at: opening)
    }

    mutating func flowSequence(depth: Int) throws(Unsupported) -> YAMLNode {
        try checkDepth(depth)
        let opening = place
        let start = itemStack.count
        position += 1
        try skipFlowSpaces()
        if current != UInt8(ascii: "]") {
            while true {
                if current == UInt8(ascii: ",") { throw Unsupported() }
                let item = try flowNode(depth: depth + 1)
                itemStack.push(item)
                try skipFlowSpaces()
                if current == UInt8(ascii: "]") { break }
                // A `key: value` inside a sequence is a mapping of its own in YAML; left to libyaml.
                guard current == UInt8(ascii: ",") else { throw Unsupported() }
                position += 1
                try skipFlowSpaces()
                if current == UInt8(ascii: "]") || current == UInt8(ascii: ",") { throw Unsupported() }
            }
        }
        position += 1
        let items = itemStack.take(from: start)
        return node(.sequence(items), at: opening)
    }
}

/// The values of the collections being read, innermost last. A collection's values are moved out at its end into
/// an array of their exact size, not copied and then freed as an array's slice would be.
final class MovingStack<Element> {
    private var base: UnsafeMutablePointer<Element>
    private var capacity = 64
    private(set) var count = 0

    init() {
        base = .allocate(capacity: capacity)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    func push(_ element: consuming Element) {
        if count == capacity {
            let larger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
            larger.moveInitialize(from: base, count: count)
            base.deallocate()
            base = larger
            capacity *= 2
        }
        (base + count).initialize(to: element)
        count += 1
    }

    /// The elements from `start` on, in order, removed from the stack.
    func take(from start: Int) -> [Element] {
        let taken = count - start
        let result = [Element](unsafeUninitializedCapacity: taken) { buffer, initialized in
            if let destination = buffer.baseAddress { destination.moveInitialize(from: base + start, count: taken) }
            initialized = taken
        }
        count = start
        return result
    }

    func contains(from start: Int, where matches: (Element) -> Bool) -> Bool {
        UnsafeBufferPointer(start: base + start, count: count - start).contains(where: matches)
    }
}
