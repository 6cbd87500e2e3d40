/// Reads a YAML tree into typed values, recording every problem with its place instead of stopping at the first.
final class DefinitionReader {
    var diagnostics = Diagnostics()
    let file: String
    /// When set, `${NAME}` and `${NAME:-default}` in strings are replaced from it.
    let environment: [String: String]?
    /// The last mapping `stringMap` read without a problem, and what it read.
    var lastStringMap: (pairs: [YAMLNode.Pair], map: [String: String])?

    init(file: String, environment: [String: String]? = nil) {
        self.file = file
        self.environment = environment
    }

    func error(_ node: YAMLNode, _ path: String, _ message: String) {
        diagnostics.error(node.location, path, message)
    }

    func error(at location: SourceLocation, _ path: String, _ message: String) {
        diagnostics.error(location, path, message)
    }

    func warning(_ node: YAMLNode, _ path: String, _ message: String) {
        diagnostics.warning(node.location, path, message)
    }

    /// A mapping with only the given keys; unknown keys are reported with a suggestion, missing required ones too.
    /// `index`: the mapping is item `index` of the list at `path` (its path is `path[index]`, made only when needed).
    func object(
        _ node: YAMLNode, _ listOrPath: @autoclosure () -> String, index: Int? = nil, what: String, keys: [String],
        required: [String] = []
    ) -> ObjectReader? {
        func path() -> String { ObjectReader.path(listOrPath(), index) }
        guard case .mapping(let pairs) = node.value else {
            error(node, path(), "expected \(what) (a mapping), found \(node.kindName)")
            return nil
        }
        var allKnown = true
        for pair in pairs {
            guard let key = pair.key.scalar else {
                error(pair.key, path(), "expected a key name in \(what), found \(pair.key.kindName)")
                allKnown = false
                continue
            }
            guard keys.contains(where: { $0.utf8.count == key.utf8.count && $0 == key }) else {
                let suggestion = closestMatch(to: key, in: keys).map { " (did you mean '\($0)'?)" } ?? ""
                error(
                    pair.key, join(path(), key),
                    "unknown key '\(key)' in \(what)\(suggestion); expected one of: \(keys.joined(separator: ", "))")
                allKnown = false
                continue
            }
        }
        // A handful of keys each: the pairs themselves are searched, not hashed into a dictionary; only a mapping
        // with a key to leave out gets a list of its own.
        let values = allKnown ? pairs : pairs.filter { $0.key.scalar.map(keys.contains) ?? false }
        for key in required where !values.contains(where: { $0.key.isKey(key) }) {
            error(node, join(path(), key), "missing required key '\(key)' in \(what)")
        }
        return ObjectReader(reader: self, node: node, parent: listOrPath(), index: index, values: values)
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func hasDollar(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { $0.contains(UInt8(ascii: "$")) }
    }

    // MARK: scalars

    func string(_ node: YAMLNode, _ path: @autoclosure () -> String, allowEmpty: Bool = false) -> String? {
        guard case .scalar(let raw, _) = node.value, !(node.isNull && !allowEmpty) else {
            error(node, path(), "expected a string, found \(node.kindName)")
            return nil
        }
        guard let environment else {
            if !allowEmpty, raw.trimmingWhitespace().isEmpty {
                error(node, path(), "expected a non-empty string, found an empty one")
                return nil
            }
            return raw
        }
        // Without a `$` there is nothing to substitute; most values of a large fleet have none.
        let substituted = Self.hasDollar(raw) ? interpolate(raw, environment: environment) : .success(raw)
        switch substituted {
        case .success(let text):
            if text.isEmpty && !allowEmpty {
                error(
                    node, path(), "expected a non-empty string, found '\(raw)' which is empty after ${…} substitution")
                return nil
            }
            return text
        case .failure(let failure):
            var location = node.location
            if case .scalar(_, .plain) = node.value, !raw.contains("\n") { location.column += failure.offset }
            error(at: location, path(), failure.message)
            return nil
        }
    }

    func int(_ node: YAMLNode, _ path: @autoclosure () -> String, min: Int? = nil, max: Int? = nil) -> Int? {
        guard case .scalar(let text, .plain) = node.value, let value = Int(text) else {
            error(node, path(), "expected a whole number, found \(node.kindName)")
            return nil
        }
        if let min, value < min {
            error(node, path(), "expected a number of at least \(min), found \(value)")
            return nil
        }
        if let max, value > max {
            error(node, path(), "expected a number of at most \(max), found \(value)")
            return nil
        }
        return value
    }

    func bool(_ node: YAMLNode, _ path: @autoclosure () -> String) -> Bool? {
        if case .scalar(let text, .plain) = node.value {
            switch text.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: break
            }
        }
        error(node, path(), "expected true or false, found \(node.kindName)")
        return nil
    }

    func duration(_ node: YAMLNode, _ path: @autoclosure () -> String) -> Duration? {
        guard let text = node.scalar, !node.isNull else {
            error(node, path(), "expected a duration like 500ms, 30s, 5m or 1h, found \(node.kindName)")
            return nil
        }
        guard let value = parseDuration(text) else {
            error(node, path(), "expected a duration like 500ms, 30s, 5m or 1h, found '\(text)'")
            return nil
        }
        return value
    }

    func oneOf<T: RawRepresentable & CaseIterable>(_ node: YAMLNode, _ path: @autoclosure () -> String, _ type: T.Type)
        -> T?
    where T.RawValue == String {
        guard let text = node.scalar, !node.isNull else {
            error(node, path(), "expected one of \(humanList(T.allCases.map(\.rawValue))), found \(node.kindName)")
            return nil
        }
        guard let value = T(rawValue: text) else {
            let suggestion = closestMatch(to: text, in: T.allCases.map(\.rawValue)).map { " (did you mean '\($0)'?)" }
            error(
                node, path(),
                "expected one of \(humanList(T.allCases.map(\.rawValue))), found '\(text)'\(suggestion ?? "")")
            return nil
        }
        return value
    }

    func list(_ node: YAMLNode, _ path: @autoclosure () -> String, what: String) -> [YAMLNode]? {
        guard case .sequence(let items) = node.value else {
            error(node, path(), "expected a list of \(what), found \(node.kindName)")
            return nil
        }
        return items
    }

    func stringList(_ node: YAMLNode, _ path: @autoclosure () -> String, what: String) -> [String]? {
        if case .scalar = node.value, !node.isNull, let single = string(node, path()) { return [single] }
        guard let items = list(node, path(), what: what) else { return nil }
        return items.enumerated().compactMap { index, item in string(item, "\(path())[\(index)]") }
    }

    func stringMap(_ node: YAMLNode, _ path: @autoclosure () -> String, what: String) -> [String: String]? {
        guard case .mapping(let pairs) = node.value else {
            error(node, path(), "expected \(what) (a mapping of names to values), found \(node.kindName)")
            return nil
        }
        // Tenants listed one after another often carry the same labels: the same text gives the same map, so the
        // last one is handed out again (sharing its storage) instead of being built and hashed anew.
        if let last = lastStringMap, Self.sameScalars(last.pairs, pairs) { return last.map }
        let problemsBefore = diagnostics.all.count
        var result: [String: String] = [:]
        result.reserveCapacity(pairs.count)
        defer {
            // Only a map read without a problem is reused, so a problem is reported wherever it is written.
            if diagnostics.all.count == problemsBefore { lastStringMap = (pairs, result) }
        }
        for pair in pairs {
            guard let key = pair.key.scalar else {
                error(pair.key, path(), "expected a name, found \(pair.key.kindName)")
                continue
            }
            guard case .scalar = pair.value.value, let value = string(pair.value, join(path(), key), allowEmpty: true)
            else {
                if pair.value.scalar == nil {
                    error(pair.value, join(path(), key), "expected a plain value, found \(pair.value.kindName)")
                }
                continue
            }
            result[key] = value
        }
        return result
    }
}

extension DefinitionReader {
    /// Whether two mappings hold the same scalar keys and values, in the same styles and order.
    static func sameScalars(_ first: [YAMLNode.Pair], _ second: [YAMLNode.Pair]) -> Bool {
        guard first.count == second.count else { return false }
        for index in first.indices {
            guard sameScalar(first[index].key, second[index].key), sameScalar(first[index].value, second[index].value)
            else { return false }
        }
        return true
    }

    static func sameScalar(_ first: YAMLNode, _ second: YAMLNode) -> Bool {
        guard case .scalar(let text, let style) = first.value, case .scalar(let other, let otherStyle) = second.value
        else { return false }
        return style == otherStyle && text == other
    }
}

/// A mapping whose keys were checked; typed accessors report wrong types at the value's place. A class: it is
/// handed to every accessor and closure, and one reference costs less to pass around than its fields.
final class ObjectReader {
    let reader: DefinitionReader
    let node: YAMLNode
    /// The object's path, or the path of the list it is item `index` of.
    let parent: String
    let index: Int?
    /// The pairs with a known key, in the order written.
    let values: [YAMLNode.Pair]

    init(reader: DefinitionReader, node: YAMLNode, parent: String, index: Int? = nil, values: [YAMLNode.Pair]) {
        self.reader = reader
        self.node = node
        self.parent = parent
        self.index = index
        self.values = values
    }

    /// The object's path, for messages: made when asked, as most objects never need it.
    var path: String { Self.path(parent, index) }

    static func path(_ parent: String, _ index: Int?) -> String {
        guard let index else { return parent }
        return "\(parent)[\(index)]"
    }

    /// The value of `key`; the last one written when a key repeats (the composer reports repeats before this).
    func node(_ key: String) -> YAMLNode? {
        guard let index = index(of: key) else { return nil }
        return values[index].value
    }

    /// Where `key`'s pair is in `values`. The accessors below read the value in place by its index: a node
    /// handed around as an optional is copied and freed through the generic optional's code.
    func index(of key: String) -> Int? {
        var index = values.endIndex
        while index > values.startIndex {
            index -= 1
            if values[index].key.isKey(key) { return index }
        }
        return nil
    }
    func has(_ key: String) -> Bool { values.contains { $0.key.isKey(key) } }
    func at(_ key: String) -> String { reader.join(path, key) }
    func location(_ key: String) -> SourceLocation {
        guard let index = index(of: key) else { return node.location }
        return values[index].value.location
    }

    func string(_ key: String, allowEmpty: Bool = false) -> String? {
        guard let index = index(of: key) else { return nil }
        return reader.string(values[index].value, at(key), allowEmpty: allowEmpty)
    }
    func int(_ key: String, min: Int? = nil, max: Int? = nil) -> Int? {
        guard let index = index(of: key) else { return nil }
        return reader.int(values[index].value, at(key), min: min, max: max)
    }
    func bool(_ key: String) -> Bool? {
        guard let index = index(of: key) else { return nil }
        return reader.bool(values[index].value, at(key))
    }
    func duration(_ key: String) -> Duration? {
        guard let index = index(of: key) else { return nil }
        return reader.duration(values[index].value, at(key))
    }
    func oneOf<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type) -> T? where T.RawValue == String {
        guard let index = index(of: key) else { return nil }
        return reader.oneOf(values[index].value, at(key), type)
    }
    func list(_ key: String, what: String) -> [YAMLNode]? {
        guard let index = index(of: key) else { return nil }
        return reader.list(values[index].value, at(key), what: what)
    }
    func stringList(_ key: String, what: String) -> [String]? {
        guard let index = index(of: key) else { return nil }
        return reader.stringList(values[index].value, at(key), what: what)
    }
    /// Where each string under `key` (a list of strings, or one string) is written, by its text; the first place
    /// of a repeated one.
    func stringLocations(_ key: String) -> [String: SourceLocation] {
        guard let index = index(of: key) else { return [:] }
        let node = values[index].value
        let items: [YAMLNode]
        switch node.value {
        case .scalar: items = [node]
        case .sequence(let list): items = list
        case .mapping: items = []
        }
        var locations: [String: SourceLocation] = [:]
        for item in items {
            if case .scalar(let text, _) = item.value, locations[text] == nil { locations[text] = item.location }
        }
        return locations
    }
    func stringMap(_ key: String, what: String) -> [String: String]? {
        guard let index = index(of: key) else { return nil }
        return reader.stringMap(values[index].value, at(key), what: what)
    }
    func object(_ key: String, what: String, keys: [String], required: [String] = []) -> ObjectReader? {
        guard let index = index(of: key) else { return nil }
        return reader.object(values[index].value, at(key), what: what, keys: keys, required: required)
    }
}
