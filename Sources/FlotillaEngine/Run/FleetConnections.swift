import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Where each shard lives, and the connections to it: a small pool per shard for schema-per-tenant tenants, a
/// short-lived connection per step for database-per-tenant tenants (so thousands of databases never hold idle pools).
///
/// Every connection is opened within the deadlines (connect timeout, TCP keepalive), and a connection that saw an
/// error is never used again: after a server restart, the next step opens a fresh one or fails within the connect
/// timeout, naming the shard and the server — no pool retrying in the background for a minute.
public final class FleetConnections: Sendable {
    public let fleet: Fleet
    public let shardURLs: [String: ConnectionURL]
    public let deadlines: ConnectionDeadlines
    let pools: [String: ShardPool]
    let logger: Logger

    /// Resolves every shard's URL: `embedded:DB` on the embedded server, or a `postgres://` URL with libpq's
    /// environment and `~/.pgpass`. Throws `ShardError` naming the shard, with no password in it.
    public init(
        fleet: Fleet, embedded: ConnectionURL?, environment: [String: String],
        deadlines: ConnectionDeadlines = ConnectionDeadlines(), logger: Logger
    ) throws {
        self.fleet = fleet
        self.logger = logger
        self.deadlines = deadlines
        var urls: [String: ConnectionURL] = [:]
        let pgpass = PgPass.load(environment: environment)
        for shard in fleet.shards {
            if shard.url.hasPrefix("embedded:") {
                guard let embedded else {
                    throw ShardError(shard: shard.name, message: "uses the embedded PostgreSQL, which is not running")
                }
                urls[shard.name] = embedded.with(database: String(shard.url.dropFirst("embedded:".count)))
            } else {
                do {
                    urls[shard.name] = try ConnectionURL(parsing: shard.url, environment: environment, pgpass: pgpass)
                } catch {
                    throw ShardError(shard: shard.name, message: "bad URL \(redactedURL(shard.url)): \(error)")
                }
            }
        }
        shardURLs = urls
        let perShard = fleet.shards.reduce(into: [String: Int]()) { $0[$1.name] = $1.maxParallel ?? 16 }
        pools = urls.reduce(into: [:]) { pools, entry in
            pools[entry.key] = ShardPool(
                shard: entry.key, url: entry.value, idleLimit: min(perShard[entry.key] ?? 16, 64) + 2,
                deadlines: deadlines, logger: logger)
        }
    }

    /// Runs `body`, then closes every idle connection (also when the caller is cancelled).
    public func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            for pool in pools.values { await pool.closeIdle() }
            return result
        } catch {
            for pool in pools.values { await pool.closeIdle() }
            throw error
        }
    }

    /// A session for one tenant: a pooled connection to its shard, or a new connection to the tenant's database.
    /// The body gets the connection and its backend's pid (read once when the connection opened), for
    /// `pg_cancel_backend`.
    func withTenant<T: Sendable>(
        _ tenant: Tenant, _ body: @escaping @Sendable (PostgresConnection, Int32) async throws -> T
    ) async throws -> T {
        guard let pool = pools[tenant.shard] else {
            throw ShardError(shard: tenant.shard, message: "is not defined")
        }
        switch tenant.placement {
        case .schema:
            return try await pool.withConnection(body)
        case .database(let database):
            return try await pool.withConnection(database: database, body)
        }
    }

    /// Since when the shard's server has refused or failed every new connection, if it does now.
    func unreachableSince(_ shard: String) async -> ContinuousClock.Instant? {
        await pools[shard]?.unreachableSince
    }

    /// Cancels the statement running on a backend of a shard's server (its transaction then rolls back), on a
    /// connection of its own: the step's own connection is busy with that statement.
    func cancelBackend(shard: String, pid: Int32) async {
        guard let url = shardURLs[shard] else { return }
        var deadlines = self.deadlines
        deadlines.connect = min(deadlines.connect, .seconds(2))
        let (quick, logger) = (deadlines, self.logger)
        // Bounded as a whole: a halt or a stop must never wait on a server that does not answer.
        _ = try? await uncancelled(within: .seconds(3)) {
            let connection = try await url.openConnection(deadlines: quick, logger: logger)
            _ = try? await untilClosed(connection, endpoint: url.endpoint) {
                try await connection.query("SELECT pg_cancel_backend(\(pid))", logger: logger).collect()
            }
            connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
        }
    }

    /// Connects to every shard once (`SELECT 1`), so a wrong URL or a down server is found before anything runs.
    public func preflight() async throws {
        for shard in fleet.shards {
            guard let pool = pools[shard.name] else { continue }
            let logger = self.logger
            try await pool.withConnection { connection, _ in
                let rows = try await connection.query("SELECT 1", logger: logger)
                for try await _ in rows {}
            }
        }
    }
}

/// The connections to one shard's server. A connection goes back to the pool only when its step ended without an
/// error and was not cancelled; any other is closed, so a connection that a restart broke is never handed out.
actor ShardPool {
    let shard: String
    let url: ConnectionURL
    let idleLimit: Int
    let deadlines: ConnectionDeadlines
    let logger: Logger
    private var idle: [(connection: PostgresConnection, pid: Int32)] = []
    /// Set by the first failed connection attempt, cleared by the next successful one.
    private(set) var unreachableSince: ContinuousClock.Instant?

    init(shard: String, url: ConnectionURL, idleLimit: Int, deadlines: ConnectionDeadlines, logger: Logger) {
        self.shard = shard
        self.url = url
        self.idleLimit = idleLimit
        self.deadlines = deadlines
        self.logger = logger
    }

    /// Runs `body` on a connection to the shard's database (or to `database` on the shard's server, not pooled).
    nonisolated func withConnection<T: Sendable>(
        database: String? = nil, _ body: @escaping @Sendable (PostgresConnection, Int32) async throws -> T
    ) async throws -> T {
        let (connection, pid) = try await lease(database: database)
        let stop = StopGuard(connection)
        let endpoint = url.endpoint
        do {
            let result = try await withTaskCancellationHandler {
                try await untilClosed(connection, endpoint: endpoint) { try await body(connection, pid) }
            } onCancel: {
                stop.cancelled()
            }
            await giveBack(connection, pid: pid, reusable: database == nil && !stop.wasCancelled)
            return result
        } catch {
            await giveBack(connection, pid: pid, reusable: false)
            throw error
        }
    }

    private func lease(database: String?) async throws -> (PostgresConnection, Int32) {
        if database == nil {
            while let pooled = idle.popLast() {
                if !pooled.connection.isClosed { return pooled }
            }
        }
        let target = database.map { url.with(database: $0) } ?? url
        let connection: PostgresConnection
        do {
            connection = try await target.openConnection(deadlines: deadlines, logger: logger)
            unreachableSince = nil
        } catch let error as ConnectionOpenError {
            unreachableSince = unreachableSince ?? .now
            throw ShardError(shard: shard, message: "cannot connect to \(error.description)", open: error)
        }
        do {
            let pid = try await untilClosed(connection, endpoint: url.endpoint) {
                try await connection.query("SELECT pg_backend_pid()", logger: self.logger).collect().first?.decode(
                    Int32.self) ?? 0
            }
            // Should this process die (SIGKILL, OOM), the server notices within a second that the client is gone and
            // ends the statement, so its locks do not outlive it and block the rerun. PostgreSQL 14 and later, on
            // the systems that can tell (not Windows); elsewhere the setting is refused and nothing changes.
            _ = try? await untilClosed(connection, endpoint: url.endpoint) {
                try await connection.query("SET client_connection_check_interval = '1s'", logger: self.logger)
                    .collect()
            }
            return (connection, pid)
        } catch {
            connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
            throw error
        }
    }

    /// Pools the connection, or closes it without waiting: a connection the server is closing may never answer.
    private func giveBack(_ connection: PostgresConnection, pid: Int32, reusable: Bool) {
        if reusable, !connection.isClosed, idle.count < idleLimit {
            idle.append((connection, pid))
        } else {
            connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
        }
    }

    func closeIdle() async {
        let connections = idle
        idle = []
        for pooled in connections { try? await pooled.connection.close() }
    }
}

/// Closes a step's connection shortly after its task is cancelled, whatever it waits for: a statement cancelled
/// with `pg_cancel_backend` returns at once, but a server that stopped answering never would.
private final class StopGuard: @unchecked Sendable {
    static let grace: TimeAmount = .milliseconds(750)
    private let connection: PostgresConnection
    private let lock = NSLock()
    private var cancelledFlag = false

    init(_ connection: PostgresConnection) {
        self.connection = connection
    }

    var wasCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelledFlag
    }

    func cancelled() {
        lock.lock()
        cancelledFlag = true
        lock.unlock()
        let connection = self.connection
        connection.eventLoop.scheduleTask(in: Self.grace) {
            if !connection.isClosed { connection.close().whenComplete { _ in withExtendedLifetime(connection) {} } }
        }
    }
}

/// A shard that cannot be used: bad URL, unreachable server. Never carries a password.
public struct ShardError: Error, Sendable, CustomStringConvertible {
    public var shard: String
    public var message: String
    /// Set when the shard's server could not be reached.
    public var open: ConnectionOpenError?

    public init(shard: String, message: String, open: ConnectionOpenError? = nil) {
        self.shard = shard
        self.message = message
        self.open = open
    }

    public var description: String { "shard \(shard): \(message)" }
}

struct TimeoutError: Error, CustomStringConvertible {
    var description: String { "timed out" }
}

/// Runs `body`, cancelling it after `limit`.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimeoutError()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
