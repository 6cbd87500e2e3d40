import Foundation
import Logging
import PostgresNIO

/// Runs `body` with a running `PostgresClient` (a connection pool) for `url`, then shuts it down.
///
/// The pool runs for exactly as long as `body` (see ``withRunningClients(_:_:)``), so a cancelled caller can
/// still record how it stopped.
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
    return try await withRunningClients([client]) { try await body(client) }
}

/// Runs the pools' `run()` for as long as `body` runs, then shuts them down and waits until they have.
///
/// The pools run in a task of their own, not in a child task of the caller: cancelling the caller cancels `body`
/// alone, and the pools stay up until `body` has returned. (Were they cancelled together with it, a query that
/// `body` still sends while it unwinds — rolling a transaction back, journaling where it stopped — would go to a
/// pool that is shutting down.)
public func withRunningClients<T: Sendable>(
    _ clients: [PostgresClient],
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> T
) async throws -> T {
    // Each pool's run() begins before `body` leases a connection (PostgresNIO warns otherwise).
    let (started, starting) = AsyncStream<Void>.makeStream()
    // Unstructured on purpose: the pools run beside `body` and are cancelled, then awaited, when it ends.
    let runner = Task {
        await withDiscardingTaskGroup { group in
            for client in clients {
                group.addTask {
                    starting.yield()
                    await client.run()
                }
            }
        }
    }
    var count = 0
    for await _ in started {
        count += 1
        if count == clients.count { break }
    }
    do {
        let result = try await body()
        runner.cancel()
        await runner.value
        return result
    } catch {
        runner.cancel()
        await runner.value
        throw error
    }
}

/// Runs `body` in a task that the caller's cancellation does not reach, within `limit`: for the few writes that
/// must still happen when a run is cancelled (releasing a lease, putting an interrupted step back to pending).
/// Past `limit` it throws at once; a `body` stuck on an unreachable server is left to end on its own.
public func uncancelled<T: Sendable>(
    within limit: Duration = .seconds(5),
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = FirstOutcome<T>()
    return try await withCheckedThrowingContinuation { continuation in
        outcome.wait(continuation)
        // Unstructured on purpose: the caller's cancellation must not reach `body`, and a `body` stuck on an
        // unreachable server must not hold the caller past `limit`.
        Task {
            do { outcome.finish(.success(try await body())) } catch { outcome.finish(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: limit)
            outcome.finish(.failure(UncancelledTimeout(limit: limit)))
        }
    }
}

/// Resumes a continuation with whichever outcome comes first.
private final class FirstOutcome<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        lock.lock()
        self.continuation = continuation
        lock.unlock()
    }

    func finish(_ result: Result<T, any Error>) {
        lock.lock()
        let continuation = self.continuation
        self.continuation = nil
        lock.unlock()
        continuation?.resume(with: result)
    }
}

/// `uncancelled` ran out of time.
public struct UncancelledTimeout: Error, CustomStringConvertible {
    public let limit: Duration
    public var description: String { "did not finish within \(limit)" }
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
