// libyaml's event parser, read directly: Yams' composer expands aliases, reports a duplicate key at the first
// one's place and recurses without a limit of its own, and none of that can be checked from outside it. Reading
// the events lets every alias, nesting level and key be checked where it is written.
import CYaml

/// Builds a `YAMLNode` tree from libyaml's events, with the limits that keep a hostile file harmless.
struct YAMLComposer {
    /// Flotilla files nest about six levels deep (a fleet's tenants' labels); 64 leaves room for any hand-written
    /// file while keeping every recursive walk of the tree, here and in the readers, far from the end of the stack.
    static let maxDepth = 64

    /// Aliases share the anchored value, so they cost no memory here, but every reader after this one walks the
    /// value once per alias: a kilobyte of nested aliases ("billion laughs") is a billion nodes to them. Aliases
    /// may add at most as many nodes as the file has bytes, plus this much, which keeps the tree within a small
    /// multiple of what is written while allowing a shared label set on each of 100,000 tenants.
    static let aliasNodeAllowance = 100_000

    /// How many nodes a value stands for once its aliases are written out, and how deep it goes.
    struct Shape {
        var count: Int
        var height: Int
    }

    /// One libyaml event, copied out of libyaml's memory.
    enum Event {
        case streamStart
        case streamEnd
        case documentStart
        case documentEnd
        case alias(String)
        case scalar(String, YAMLNode.ScalarStyle, anchor: String?)
        case sequenceStart(anchor: String?)
        case sequenceEnd
        case mappingStart(anchor: String?)
        case mappingEnd
    }

    let file: String
    let fileName: FileName
    let aliasNodeBudget: Int
    var anchors: [String: (node: YAMLNode, shape: Shape)] = [:]
    var aliasNodes = 0
    /// The values of the sequences being read, innermost last; each sequence takes its own out at the end, so its
    /// array is made once, at its size.
    var itemStack: [YAMLNode] = []
    /// The same for the pairs of the mappings being read, and, beside each pair, where its key was written.
    var pairStack: [YAMLNode.Pair] = []
    var keyPlaces: [SourceLocation] = []
    /// Keys of a mapping searched one by one for a repeat; a longer mapping's keys are hashed.
    static let keysSearchedInPlace = 16
    /// Problems that do not stop the reading (duplicate keys), reported together at the end.
    var diagnostics = Diagnostics()

    init(file: String, byteCount: Int) {
        self.file = file
        fileName = FileName.named(file)
        aliasNodeBudget = byteCount + Self.aliasNodeAllowance
    }

    func node(_ value: YAMLNode.Value, at location: SourceLocation) -> YAMLNode {
        YAMLNode(value, file: fileName, line: location.line, column: location.column)
    }

    func fail(_ location: SourceLocation, _ message: String) -> DefinitionError {
        DefinitionError([Diagnostic(at: location, message)])
    }

    /// Parses one YAML document; nil when the text holds none.
    /// `fastPath: false` reads with libyaml even a file `YAMLFastReader` can read (the tests compare the two).
    static func compose(_ text: String, file: String, fastPath: Bool = true) throws(DefinitionError) -> YAMLNode? {
        // The fast reader reads the string's own bytes, without a copy.
        if fastPath, let read = text.utf8.withContiguousStorageIfAvailable({ YAMLFastReader.read($0, file: file) }),
            let root = read
        {
            return root
        }
        // libyaml wants a pointer even for empty input, so there is always one byte past the text.
        var bytes = Array(text.utf8)
        let count = bytes.count
        bytes.append(0)
        var composer = YAMLComposer(file: file, byteCount: count)
        let result: Result<YAMLNode?, DefinitionError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) != 0 else {
                return .failure(composer.fail(SourceLocation(file: file, line: 1, column: 1), "out of memory"))
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, buffer.baseAddress, count)
            var events = EventReader(parser: &parser, file: file, bytes: buffer)
            do throws(DefinitionError) {
                return .success(try composer.document(&events))
            } catch {
                return .failure(error)
            }
        }
        let root = try result.get()
        try composer.diagnostics.check()
        return root
    }

    /// The stream: nothing, or exactly one document.
    mutating func document(_ events: inout EventReader) throws(DefinitionError) -> YAMLNode? {
        _ = try events.next()  // stream start
        let (first, _) = try events.next()
        guard case .documentStart = first else { return nil }
        let (rootEvent, rootLocation) = try events.next()
        let (root, _) = try node(rootEvent, at: rootLocation, depth: 1, &events)
        _ = try events.next()  // document end
        let (after, afterLocation) = try events.next()
        if case .documentStart = after {
            throw fail(afterLocation, "a second YAML document; a Flotilla file holds exactly one")
        }
        return root
    }

    mutating func node(_ event: Event, at location: SourceLocation, depth: Int, _ events: inout EventReader)
        throws(DefinitionError) -> (YAMLNode, Shape)
    {
        switch event {
        case .scalar(let text, let style, let anchor):
            let result = (node(.scalar(text, style), at: location), Shape(count: 1, height: 1))
            register(anchor, result)
            return result
        case .alias(let name):
            guard let anchored = anchors[name] else {
                throw fail(location, "alias *\(name) refers to no anchor &\(name) written before it")
            }
            if depth + anchored.shape.height - 1 > Self.maxDepth {
                throw fail(
                    location,
                    "alias *\(name) nests the file deeper than \(Self.maxDepth) levels, the most Flotilla reads")
            }
            aliasNodes += anchored.shape.count
            if aliasNodes > aliasNodeBudget {
                throw fail(
                    location,
                    "alias *\(name) expands the file past \(aliasNodeBudget) values; aliases may repeat at most "
                        + "as many values as the file has bytes, plus \(Self.aliasNodeAllowance)")
            }
            return anchored
        case .sequenceStart(let anchor):
            try checkDepth(depth, at: location)
            let start = itemStack.count
            var shape = Shape(count: 1, height: 1)
            while true {
                let (next, nextLocation) = try events.next()
                if case .sequenceEnd = next { break }
                let (item, itemShape) = try node(next, at: nextLocation, depth: depth + 1, &events)
                itemStack.append(item)
                shape.add(itemShape)
            }
            let items = Array(itemStack[start...])
            itemStack.removeSubrange(start...)
            let result = (node(.sequence(items), at: location), shape)
            register(anchor, result)
            return result
        case .mappingStart(let anchor):
            try checkDepth(depth, at: location)
            let start = pairStack.count
            var shape = Shape(count: 1, height: 1)
            var keyIndex: [String: SourceLocation]?
            while true {
                let (next, keyLocation) = try events.next()
                if case .mappingEnd = next { break }
                let (key, keyShape) = try node(next, at: keyLocation, depth: depth + 1, &events)
                if let name = key.scalar {
                    // The key's own place: an aliased key carries its anchor's place, the alias is where it is used.
                    if let first = firstPlace(of: name, at: keyLocation, since: start, index: &keyIndex) {
                        diagnostics.error(
                            keyLocation, "",
                            "duplicate key '\(name)' in a mapping; it was first written at line \(first.line), "
                                + "column \(first.column)")
                    }
                }
                let (valueEvent, valueLocation) = try events.next()
                let (value, valueShape) = try node(valueEvent, at: valueLocation, depth: depth + 1, &events)
                pairStack.append(YAMLNode.Pair(key: key, value: value))
                keyPlaces.append(keyLocation)
                shape.add(keyShape)
                shape.add(valueShape)
            }
            let pairs = Array(pairStack[start...])
            pairStack.removeSubrange(start...)
            keyPlaces.removeSubrange(start...)
            let result = (node(.mapping(pairs), at: location), shape)
            register(anchor, result)
            return result
        case .streamStart, .streamEnd, .documentStart, .documentEnd, .sequenceEnd, .mappingEnd:
            // libyaml only sends a value's event here; anything else is a parser fault, reported, not trapped.
            throw fail(location, "YAML syntax error: unexpected \(event)")
        }
    }

    /// Where the key `name` (written at `location`) was first written in the mapping whose pairs start at `start`
    /// on `pairStack`; nil when it is new. A few keys are searched in place; past that they go into `index`, so a
    /// long mapping is still read in linear time.
    mutating func firstPlace(
        of name: String, at location: SourceLocation, since start: Int, index: inout [String: SourceLocation]?
    ) -> SourceLocation? {
        if pairStack.count - start < Self.keysSearchedInPlace {
            for position in start..<pairStack.count where pairStack[position].key.scalar == name {
                return keyPlaces[position]
            }
            return nil
        }
        if index == nil {
            var built: [String: SourceLocation] = [:]
            built.reserveCapacity(2 * Self.keysSearchedInPlace)
            for position in start..<pairStack.count {
                if let key = pairStack[position].key.scalar, built[key] == nil { built[key] = keyPlaces[position] }
            }
            index = built
        }
        if let first = index?[name] { return first }
        index?[name] = location
        return nil
    }

    static let tooDeep = "YAML nested deeper than \(maxDepth) levels, the most Flotilla reads"

    func checkDepth(_ depth: Int, at location: SourceLocation) throws(DefinitionError) {
        if depth > Self.maxDepth {
            throw fail(location, Self.tooDeep)
        }
    }

    mutating func register(_ anchor: String?, _ value: (YAMLNode, Shape)) {
        // A later anchor of the same name replaces the earlier one for the aliases after it, as YAML says.
        if let anchor { anchors[anchor] = (node: value.0, shape: value.1) }
    }
}

extension YAMLComposer.Shape {
    mutating func add(_ child: Self) {
        count += child.count
        height = max(height, child.height + 1)
    }
}

/// Pulls events from libyaml, turning its errors into diagnostics at their place.
struct EventReader {
    let parser: UnsafeMutablePointer<yaml_parser_t>
    let file: String
    let bytes: UnsafeBufferPointer<UInt8>

    init(parser: UnsafeMutablePointer<yaml_parser_t>, file: String, bytes: UnsafeBufferPointer<UInt8>) {
        self.parser = parser
        self.file = file
        self.bytes = bytes
    }

    func location(_ mark: yaml_mark_t) -> SourceLocation {
        // libyaml counts from 0, in characters (Unicode scalars) within the line.
        SourceLocation(file: file, line: mark.line + 1, column: mark.column + 1)
    }

    func fail(_ location: SourceLocation, _ message: String) -> DefinitionError {
        DefinitionError([Diagnostic(at: location, message)])
    }

    mutating func next() throws(DefinitionError) -> (YAMLComposer.Event, SourceLocation) {
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) != 0 else { throw error() }
        defer { yaml_event_delete(&event) }
        let location = self.location(event.start_mark)
        func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }
        switch event.type {
        case YAML_STREAM_START_EVENT: return (.streamStart, location)
        case YAML_DOCUMENT_START_EVENT: return (.documentStart, location)
        case YAML_DOCUMENT_END_EVENT: return (.documentEnd, location)
        case YAML_ALIAS_EVENT: return (.alias(string(event.data.alias.anchor) ?? ""), location)
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            // The value's length is given: an escaped "\0" inside it must not cut it short.
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            let style: YAMLNode.ScalarStyle
            switch scalar.style {
            case YAML_PLAIN_SCALAR_STYLE, YAML_ANY_SCALAR_STYLE: style = .plain
            case YAML_LITERAL_SCALAR_STYLE, YAML_FOLDED_SCALAR_STYLE: style = .block
            default: style = .quoted
            }
            return (.scalar(text, style, anchor: string(scalar.anchor)), location)
        case YAML_SEQUENCE_START_EVENT:
            return (.sequenceStart(anchor: string(event.data.sequence_start.anchor)), location)
        case YAML_SEQUENCE_END_EVENT: return (.sequenceEnd, location)
        case YAML_MAPPING_START_EVENT: return (.mappingStart(anchor: string(event.data.mapping_start.anchor)), location)
        case YAML_MAPPING_END_EVENT: return (.mappingEnd, location)
        default: return (.streamEnd, location)
        }
    }

    /// libyaml's error, at its place.
    func error() -> DefinitionError {
        let state = parser.pointee
        let problem = state.problem.map { String(cString: $0) } ?? "unknown problem"
        switch state.error {
        case YAML_READER_ERROR:
            // The reader gives a byte offset, not a line; count it out.
            let location = place(ofByte: state.problem_offset)
            let byte = state.problem_value >= 0 ? hexByte(state.problem_value) : ""
            return fail(location, "YAML reader error: \(problem)\(byte)")
        case YAML_PARSER_ERROR where problem.hasPrefix("Maximum nesting level reached"):
            // libyaml's own limit (1,000 levels) counts the brackets its scanner has read ahead, so a long run of
            // `[` or `{` stops it a level or two in, before the composer's lower limit is reached.
            return fail(location(state.problem_mark), YAMLComposer.tooDeep)
        case YAML_SCANNER_ERROR, YAML_PARSER_ERROR, YAML_COMPOSER_ERROR:
            let context =
                state.context.map { " (\(String(cString: $0)) at line \(state.context_mark.line + 1))" } ?? ""
            return fail(location(state.problem_mark), "YAML syntax error: \(problem)\(context)")
        default:
            return fail(SourceLocation(file: file, line: 1, column: 1), "YAML error: \(problem)")
        }
    }

    func place(ofByte offset: Int) -> SourceLocation {
        var line = 1
        var column = 1
        for byte in bytes.prefix(min(offset, bytes.count)) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                // A UTF-8 continuation byte is part of the character before it.
                column += 1
            }
        }
        return SourceLocation(file: file, line: line, column: column)
    }
}

/// ` (0x1B)`: the byte or character libyaml's reader stopped at.
private func hexByte(_ value: Int32) -> String {
    let hex = String(value, radix: 16, uppercase: true)
    return " (0x\(hex.count % 2 == 1 ? "0" + hex : hex))"
}
