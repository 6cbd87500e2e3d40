import Logging
import PostgresNIO

/// Runs `body` with a running `PostgresClient` (a connection pool) for `url`, then shuts it down.
///
/// The standard PostgresNIO pattern: `client.run()` runs in a child task of a task group while
/// `body` runs; when `body` returns or throws, the group is cancelled, which closes the pool.
///
/// One connection is opened first to check the URL: a wrong password, a missing database or a
/// server that is down fails at once with a ``PostgresConnectError`` naming the server, database
/// and user (never the password), instead of the pool retrying in the background and failing
/// requests much later with no reason.
public func withPostgresClient<T: Sendable>(
    _ url: ConnectionURL,
    logger: Logger,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresClient) async throws -> T
) async throws -> T {
    try await withPostgresConnection(url, logger: logger) { _ in }
    let client = PostgresClient(configuration: url.clientConfiguration(), backgroundLogger: logger)
    return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
        // Let run() begin before the body leases connections (PostgresNIO warns otherwise).
        await withCheckedContinuation { (started: CheckedContinuation<Void, Never>) in
            group.addTask {
                started.resume()
                await client.run()
            }
        }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Runs `body` with one dedicated `PostgresConnection` to `url` (no pool), closing it afterwards.
///
/// For one-off administration (create a database) or a session that must stay on one backend.
/// Connection failures are thrown as ``PostgresConnectError``.
public func withPostgresConnection<T: Sendable>(
    _ url: ConnectionURL,
    logger: Logger,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresConnection) async throws -> T
) async throws -> T {
    let connection: PostgresConnection
    do {
        connection = try await PostgresConnection.connect(
            configuration: url.connectionConfiguration(),
            id: Int.random(in: 1...Int.max),
            logger: logger
        )
    } catch {
        throw PostgresConnectError(url: url, underlying: error)
    }
    do {
        let result = try await body(connection)
        try? await connection.close()
        return result
    } catch {
        try? await connection.close()
        throw error
    }
}
