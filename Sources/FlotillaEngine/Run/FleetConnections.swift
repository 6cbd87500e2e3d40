import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// Where each shard lives, and the connections to it: one pool per shard for schema-per-tenant tenants,
/// a short-lived connection per step for database-per-tenant tenants (so thousands of databases never hold idle pools).
public final class FleetConnections: Sendable {
    public let fleet: Fleet
    public let shardURLs: [String: ConnectionURL]
    let clients: [String: PostgresClient]
    let logger: Logger

    /// Resolves every shard's URL: `embedded:DB` on the embedded server, or a `postgres://` URL with libpq's
    /// environment and `~/.pgpass`. Throws `ShardError` naming the shard, with no password in it.
    public init(fleet: Fleet, embedded: ConnectionURL?, environment: [String: String], logger: Logger) throws {
        self.fleet = fleet
        self.logger = logger
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
        var clients: [String: PostgresClient] = [:]
        for (name, url) in urls {
            var configuration = url.clientConfiguration()
            configuration.options.maximumConnections = min(perShard[name] ?? 16, 64) + 2
            configuration.options.minimumConnections = 0
            clients[name] = PostgresClient(configuration: configuration, backgroundLogger: logger)
        }
        self.clients = clients
    }

    /// Runs the shard pools for as long as `body` runs (and not shorter, even when the caller is cancelled).
    public func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withRunningClients(Array(clients.values)) { try await body() }
    }

    /// A session for one tenant: the shard pool's connection, or a new connection to the tenant's database.
    func withTenant<T: Sendable>(_ tenant: Tenant, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        guard let url = shardURLs[tenant.shard], let client = clients[tenant.shard] else {
            throw ShardError(shard: tenant.shard, message: "is not defined")
        }
        switch tenant.placement {
        case .schema:
            return try await client.withConnection { try await body($0) }
        case .database(let database):
            let connection = try await PostgresConnection.connect(
                configuration: url.with(database: database).connectionConfiguration(), id: 0, logger: logger)
            do {
                let result = try await body(connection)
                try? await connection.close()
                return result
            } catch {
                try? await connection.close()
                throw error
            }
        }
    }

    /// Cancels the statement running on a backend of a shard's server (its transaction then rolls back).
    func cancelBackend(shard: String, pid: Int32) async {
        guard let client = clients[shard] else { return }
        _ = try? await client.query("SELECT pg_cancel_backend(\(pid))", logger: logger).collect()
    }

    /// Connects to every shard once (`SELECT 1`), so a wrong URL or a down server is found before anything runs.
    public func preflight() async throws {
        for shard in fleet.shards {
            guard let url = shardURLs[shard.name] else { continue }
            // One connection of its own, not the pool's: the pool retries a refused connection until the request
            // times out, where one attempt fails at once with the reason.
            let logger = self.logger
            do {
                try await withTimeout(.seconds(15)) {
                    let connection = try await PostgresConnection.connect(
                        configuration: url.connectionConfiguration(), id: 0, logger: logger)
                    do {
                        let rows = try await connection.query("SELECT 1", logger: logger)
                        for try await _ in rows {}
                        try? await connection.close()
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                }
            } catch {
                let failure = DatabaseFailure(error)
                throw ShardError(
                    shard: shard.name,
                    message: "cannot connect to \(shardURLs[shard.name]?.redacted ?? "?"): \(failure.message)")
            }
        }
    }
}

/// A shard that cannot be used: bad URL, unreachable server. Never carries a password.
public struct ShardError: Error, Sendable, CustomStringConvertible {
    public var shard: String
    public var message: String
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
