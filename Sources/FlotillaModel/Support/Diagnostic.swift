/// One problem found in a definition: where, how bad, and what was expected against what was found.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable, Codable {
        case error
        case warning
    }

    public var severity: Severity
    public var location: SourceLocation
    /// The key path inside the file, e.g. `shards[1].max_parallel`; empty at the top.
    public var keyPath: String
    public var message: String

    public init(_ severity: Severity = .error, at location: SourceLocation, keyPath: String = "", _ message: String) {
        self.severity = severity
        self.location = location
        self.keyPath = keyPath
        self.message = message
    }

    /// `path:line:col: error: message`
    public var description: String { "\(location): \(severity.rawValue): \(message)" }
}

/// Every problem of a run, in file order; thrown when any of them is an error.
public struct DefinitionError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Collects diagnostics while a file is read, so that all of them are reported, not just the first.
public struct Diagnostics: Sendable {
    public private(set) var all: [Diagnostic] = []

    public init() {}

    public var hasErrors: Bool { all.contains { $0.severity == .error } }
    public var errors: [Diagnostic] { all.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { all.filter { $0.severity == .warning } }

    public mutating func error(_ location: SourceLocation, _ keyPath: String = "", _ message: String) {
        all.append(Diagnostic(.error, at: location, keyPath: keyPath, message))
    }

    public mutating func warning(_ location: SourceLocation, _ keyPath: String = "", _ message: String) {
        all.append(Diagnostic(.warning, at: location, keyPath: keyPath, message))
    }

    public mutating func append(contentsOf other: [Diagnostic]) {
        all.append(contentsOf: other)
    }

    /// Sorted by place, duplicates removed.
    public var sorted: [Diagnostic] {
        var seen = Set<Diagnostic>()
        return all.filter { seen.insert($0).inserted }.sorted {
            ($0.location, $0.message) < ($1.location, $1.message)
        }
    }

    /// Throws the collected diagnostics when any is an error.
    public func check() throws(DefinitionError) {
        if hasErrors { throw DefinitionError(sorted) }
    }
}
