/// Where definition files come from: the file system in the CLI, memory in tests.
public protocol DefinitionSource: Sendable {
    func read(_ path: String) throws -> String
    /// The file's bytes as stored. A source that holds only text need not implement it (its UTF-8 is used); one
    /// that reads files should, so that a file that is not UTF-8 is reported at its first bad byte.
    func bytes(_ path: String) throws -> [UInt8]
    /// The file's size in bytes when it is known without reading the file, so that an oversized file is refused
    /// unread; nil otherwise.
    func size(_ path: String) -> Int?
    func isFile(_ path: String) -> Bool
    func isDirectory(_ path: String) -> Bool
    /// The names (not paths) in a directory, sorted.
    func list(_ directory: String) -> [String]
}

extension DefinitionSource {
    public func bytes(_ path: String) throws -> [UInt8] { Array(try read(path).utf8) }
    public func size(_ path: String) -> Int? { nil }
}

/// Definition files held in memory, keyed by path.
public struct InMemorySource: DefinitionSource {
    public var files: [String: String]
    /// Files given as bytes, for content that is not (or not only) UTF-8 text.
    public var rawFiles: [String: [UInt8]]

    public init(_ files: [String: String], rawFiles: [String: [UInt8]] = [:]) {
        self.files = files
        self.rawFiles = rawFiles
    }

    struct Missing: Error, CustomStringConvertible {
        var path: String
        var description: String { "no such file" }
    }

    public func read(_ path: String) throws -> String {
        if let text = files[normalize(path)] { return text }
        if let raw = rawFiles[normalize(path)] { return String(decoding: raw, as: UTF8.self) }
        throw Missing(path: path)
    }

    public func bytes(_ path: String) throws -> [UInt8] {
        if let raw = rawFiles[normalize(path)] { return raw }
        return Array(try read(path).utf8)
    }

    public func size(_ path: String) -> Int? {
        rawFiles[normalize(path)]?.count ?? files[normalize(path)]?.utf8.count
    }

    var paths: [String] { Array(files.keys) + Array(rawFiles.keys) }

    public func isFile(_ path: String) -> Bool { files[normalize(path)] != nil || rawFiles[normalize(path)] != nil }

    public func isDirectory(_ path: String) -> Bool {
        let prefix = normalize(path) + "/"
        return paths.contains { $0.hasPrefix(prefix) }
    }

    public func list(_ directory: String) -> [String] {
        let prefix = normalize(directory) + "/"
        var names = Set<String>()
        for key in paths where key.hasPrefix(prefix) {
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
