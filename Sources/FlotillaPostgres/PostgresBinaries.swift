import Foundation

/// Where the PostgreSQL programs are: `initdb`, `pg_ctl`, `postgres`, `psql`, `pg_dump`, `pgbench`.
///
/// Each is looked up on `PATH` first, then in the highest-versioned `/usr/lib/postgresql/*/bin`
/// (Debian and Ubuntu keep the server programs there, off `PATH`). The server programs come from
/// one installation: once `initdb` is found, `pg_ctl` and `postgres` are taken from the folder it
/// really lives in (symbolic links followed) when they are there, so versions never mix.
public struct PostgresBinaries: Sendable, Hashable {
    /// A PostgreSQL program.
    public enum Tool: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case initdb
        case pgCtl = "pg_ctl"
        case postgres
        case psql
        case pgDump = "pg_dump"
        case pgbench

        /// The programs an embedded server needs.
        public static let server: [Tool] = [.initdb, .pgCtl, .postgres]

        public var isServer: Bool { Self.server.contains(self) }

        public var description: String { rawValue }
    }

    /// The programs that were found, by tool.
    public var paths: [Tool: URL]

    public init(paths: [Tool: URL]) {
        self.paths = paths
    }

    /// The path of a program, or `nil` when it was not found.
    public subscript(tool: Tool) -> URL? { paths[tool] }

    /// The path of a program, or an error that says how to install it.
    public func path(for tool: Tool) throws(PostgresBinariesError) -> URL {
        try require([tool])
        return paths[tool]!
    }

    /// Throws unless every one of `tools` was found; the error names all the missing ones.
    public func require(_ tools: [Tool]) throws(PostgresBinariesError) {
        let missing = tools.filter { paths[$0] == nil }
        if !missing.isEmpty { throw PostgresBinariesError(missing: missing) }
    }

    /// Finds the programs.
    ///
    /// - Parameters:
    ///   - environment: where `PATH` comes from.
    ///   - versionedRoot: the folder holding one `VERSION/bin` folder per installed version.
    public static func locate(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        versionedRoot: String = "/usr/lib/postgresql"
    ) -> PostgresBinaries {
        let pathDirectories = (environment["PATH"] ?? "").split(separator: ":").map(String.init).filter {
            !$0.isEmpty
        }
        let versionedDirectories = versionedBinDirectories(in: versionedRoot)
        let searchOrder = pathDirectories + versionedDirectories

        func find(_ tool: Tool, preferring preferred: String? = nil) -> URL? {
            for directory in (preferred.map { [$0] } ?? []) + searchOrder {
                let candidate = URL(fileURLWithPath: directory).appendingPathComponent(tool.rawValue)
                if isExecutableFile(candidate.path) { return candidate }
            }
            return nil
        }

        var paths: [Tool: URL] = [:]
        let initdb = find(.initdb)
        paths[.initdb] = initdb
        let serverDirectory = initdb?.resolvingSymlinksInPath().deletingLastPathComponent().path
        for tool in Tool.allCases where tool != .initdb {
            paths[tool] = find(tool, preferring: tool.isServer ? serverDirectory : nil)
        }
        return PostgresBinaries(paths: paths)
    }

    /// `ROOT/*/bin`, highest version first (`16` before `15` before `9.6`).
    static func versionedBinDirectories(in root: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        let versions = names.compactMap { name -> (name: String, version: [Int])? in
            let parts = name.split(separator: ".").map { Int($0) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
            return (name, parts.map { $0! })
        }
        return versions.sorted { $0.version.lexicographicallyPrecedes($1.version) }.reversed().map {
            (root as NSString).appendingPathComponent("\($0.name)/bin")
        }
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: path)
    }
}
