/// Where definition files come from: the file system in the CLI, memory in tests.
public protocol DefinitionSource: Sendable {
    func read(_ path: String) throws -> String
    func isFile(_ path: String) -> Bool
    func isDirectory(_ path: String) -> Bool
    /// The names (not paths) in a directory, sorted.
    func list(_ directory: String) -> [String]
}

/// Definition files held in memory, keyed by path.
public struct InMemorySource: DefinitionSource {
    public var files: [String: String]

    public init(_ files: [String: String]) {
        self.files = files
    }

    struct Missing: Error, CustomStringConvertible {
        var path: String
        var description: String { "no such file" }
    }

    public func read(_ path: String) throws -> String {
        guard let text = files[normalize(path)] else { throw Missing(path: path) }
        return text
    }

    public func isFile(_ path: String) -> Bool { files[normalize(path)] != nil }

    public func isDirectory(_ path: String) -> Bool {
        let prefix = normalize(path) + "/"
        return files.keys.contains { $0.hasPrefix(prefix) }
    }

    public func list(_ directory: String) -> [String] {
        let prefix = normalize(directory) + "/"
        var names = Set<String>()
        for key in files.keys where key.hasPrefix(prefix) {
            if let name = key.dropFirst(prefix.count).split(separator: "/").first { names.insert(String(name)) }
        }
        return names.sorted()
    }

    private func normalize(_ path: String) -> String {
        var path = path
        while path.hasPrefix("./") { path.removeFirst(2) }
        while path.hasSuffix("/") { path.removeLast() }
        return path
    }
}

/// Joins path components with `/`, without doubling separators.
public func joinPath(_ parts: String...) -> String {
    var result = ""
    for part in parts where !part.isEmpty {
        if result.isEmpty || result.hasSuffix("/") { result += part } else { result += "/" + part }
    }
    return result
}
