import FlotillaPostgres
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A throwaway PostgreSQL server for the tests of one process.
///
/// The first ``url()`` starts an ``EmbeddedPostgres`` (not durable: no fsync) in a fresh folder
/// under `/tmp`; every later call reuses it. When the test process exits, the server is stopped
/// (`pg_ctl stop -m immediate`) and its folder removed, so a run leaves nothing behind. Clusters
/// left by a test process that was killed are cleaned up by the next one.
///
/// Works as root (the server then runs as the `postgres` user) and as any other user.
public actor TestCluster {
    public static let shared = TestCluster()

    /// The prefix of the cluster folders under `/tmp`.
    public static let folderPrefix = "flotilla-test-pg"

    private var server: EmbeddedPostgres?
    private var starting: Task<ConnectionURL, any Error>?
    private var superuserURL: ConnectionURL?
    private var databaseCount = 0

    public init() {}

    /// The superuser URL of the cluster, starting it on first use.
    public func url() async throws -> ConnectionURL {
        if let superuserURL { return superuserURL }
        if let starting { return try await starting.value }
        let task = Task { try await self.startCluster() }
        starting = task
        defer { starting = nil }
        let url = try await task.value
        superuserURL = url
        return url
    }

    /// Creates a database with a name no other call of this process gets, and returns its URL
    /// (the superuser's, on that database).
    public func freshDatabase(prefix: String = "t") async throws -> ConnectionURL {
        let base = try await url()
        databaseCount += 1
        let name = "\(prefix)_\(getpid())_\(databaseCount)"
        guard let server else { preconditionFailure("url() set the server up") }
        try await server.createDatabase(name)
        return base.with(database: name)
    }

    private func startCluster() async throws -> ConnectionURL {
        Self.removeAbandonedClusters()
        let directory = try makeScratchDirectory(prefix: Self.folderPrefix)
        try "\(getpid())\n".write(
            to: directory.appendingPathComponent("owner.pid"), atomically: true, encoding: .utf8)
        Self.registerCleanup(directory)

        var logger = Logger(label: "flotilla.test-cluster")
        logger.logLevel = .warning
        let server = EmbeddedPostgres(directory: directory, durable: false, maxConnections: 1000, logger: logger)
        self.server = server
        return try await server.start()
    }

    // MARK: - Cleanup

    /// Stops the cluster in `directory` at once and removes the folder.
    static func destroy(_ directory: URL) {
        EmbeddedPostgres.stopImmediately(directory: directory)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Clusters of test processes that no longer exist (killed before their exit handler ran).
    private static func removeAbandonedClusters() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for name in names where name.hasPrefix(folderPrefix + ".") {
            let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent(name)
            guard
                let text = try? String(contentsOf: directory.appendingPathComponent("owner.pid"), encoding: .utf8),
                let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { continue }
            if kill(owner, 0) != 0 && errno == ESRCH {
                destroy(directory)
            }
        }
    }

    private static func registerCleanup(_ directory: URL) {
        clusterDirectoryForExit.withLock { $0 = directory }
        atexit {
            if let directory = clusterDirectoryForExit.withLock({ $0 }) {
                TestCluster.destroy(directory)
            }
        }
    }
}

/// The folder the exit handler cleans up (an `atexit` handler cannot capture anything).
private let clusterDirectoryForExit = LockedValue<URL?>(nil)

/// A value behind a lock, for the little state shared with the exit handler.
private final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// The test cluster could not be set up.
public struct TestClusterError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
