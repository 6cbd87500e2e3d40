import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How long a connection may take to open, and how soon a dead peer is noticed.
///
/// A server that restarts closes its sockets, and the session sees it at once. A server that vanishes (a host that
/// loses power, a network partition) says nothing: without keepalive a session would wait on it forever. TCP
/// keepalive probes an idle socket after `keepaliveIdle`, every `keepaliveInterval`, and gives up after
/// `keepaliveCount` unanswered probes; `userTimeout` bounds data sent and never acknowledged.
public struct ConnectionDeadlines: Sendable, Hashable {
    /// The whole opening: TCP connect, TLS, startup and authentication.
    public var connect: Duration
    public var keepaliveIdle: Duration
    public var keepaliveInterval: Duration
    public var keepaliveCount: Int
    public var userTimeout: Duration

    public init(
        connect: Duration = .seconds(5), keepaliveIdle: Duration = .seconds(10),
        keepaliveInterval: Duration = .seconds(5), keepaliveCount: Int = 3, userTimeout: Duration = .seconds(30)
    ) {
        self.connect = connect
        self.keepaliveIdle = keepaliveIdle
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveCount = keepaliveCount
        self.userTimeout = userTimeout
    }
}

/// A connection that could not be opened: which server, and why, in libpq's words where it can ("connection
/// refused", "timed out"). Never carries a password.
public struct ConnectionOpenError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case refused
        case timedOut(Duration)
        case unreachable(String)
        case rejected(sqlState: String?, message: String)
    }

    public var endpoint: String
    public var database: String
    public var reason: Reason

    public var message: String {
        switch reason {
        case .refused: return "connection refused"
        case .timedOut(let limit): return "timed out after \(limit.secondsDescription)"
        case .unreachable(let text): return text
        case .rejected(let sqlState, let message): return sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message
        }
    }

    public var description: String { "\(endpoint)/\(database): \(message)" }
}

extension Duration {
    /// `5 s`, `0.25 s`.
    var secondsDescription: String {
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }
}

extension ConnectionURL {
    /// Opens one connection within `deadlines.connect`, with TCP keepalive on its socket.
    ///
    /// The whole opening is bounded, not only the TCP connect: a server that accepts the connection but never
    /// answers the startup (stopped with SIGSTOP, overloaded) fails here too. A connection that arrives after the
    /// deadline is closed.
    public func openConnection(
        deadlines: ConnectionDeadlines = ConnectionDeadlines(), logger: Logger
    ) async throws -> PostgresConnection {
        let url = self
        let limit = deadlines.connect
        let race = FirstOf<PostgresConnection>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.wait(continuation)
                // Unstructured on purpose: the deadline must not wait for a connect that ignores it; a connection
                // that still arrives later is closed by `race`.
                Task {
                    do {
                        race.finish(.success(try await url.connectWithKeepalive(deadlines, logger: logger)))
                    } catch {
                        race.finish(.failure(url.openError(error)))
                    }
                }
                Task {
                    try? await Task.sleep(for: limit)
                    race.finish(
                        .failure(
                            ConnectionOpenError(
                                endpoint: url.endpoint, database: url.database, reason: .timedOut(limit))))
                }
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    private func connectWithKeepalive(_ deadlines: ConnectionDeadlines, logger: Logger) async throws
        -> PostgresConnection
    {
        if isUnixSocket {
            return try await PostgresConnection.connect(
                configuration: connectionConfiguration(), id: Int.random(in: 1...Int.max), logger: logger)
        }
        let milliseconds =
            Int64(deadlines.connect.components.seconds * 1000)
            + Int64(deadlines.connect.components.attoseconds / 1_000_000_000_000_000)
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(max(1, milliseconds)))
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
        #if os(Linux)
            let tcp = SocketOptionLevel(IPPROTO_TCP)
            bootstrap =
                bootstrap
                .channelOption(
                    ChannelOptions.Types.SocketOption(level: tcp, name: SocketOptionName(TCP_KEEPIDLE)),
                    value: SocketOptionValue(deadlines.keepaliveIdle.components.seconds)
                )
                .channelOption(
                    ChannelOptions.Types.SocketOption(level: tcp, name: SocketOptionName(TCP_KEEPINTVL)),
                    value: SocketOptionValue(deadlines.keepaliveInterval.components.seconds)
                )
                .channelOption(
                    ChannelOptions.Types.SocketOption(level: tcp, name: SocketOptionName(TCP_KEEPCNT)),
                    value: SocketOptionValue(deadlines.keepaliveCount)
                )
                .channelOption(
                    ChannelOptions.Types.SocketOption(level: tcp, name: SocketOptionName(TCP_USER_TIMEOUT)),
                    value: SocketOptionValue(deadlines.userTimeout.components.seconds * 1000))
        #endif
        let channel = try await bootstrap.connect(host: host, port: port).get()
        let base = connectionConfiguration()
        var configuration = PostgresConnection.Configuration(
            establishedChannel: channel, tls: base.tls, username: user, password: password, database: database)
        configuration.options = base.options
        do {
            // On the channel's own event loop: PostgresNIO sets up its handlers there.
            return try await PostgresConnection.connect(
                on: channel.eventLoop, configuration: configuration, id: Int.random(in: 1...Int.max), logger: logger)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// What went wrong while opening, in a few words.
    func openError(_ error: any Error) -> any Error {
        if error is CancellationError || error is ConnectionOpenError { return error }
        let reason: ConnectionOpenError.Reason
        if let error = error as? PSQLError, let info = error.serverInfo {
            reason = .rejected(sqlState: info[.sqlState], message: info[.message] ?? "\(error.code)")
        } else {
            let text = "\((error as? PSQLError)?.underlying ?? error)"
            if text.contains("connection refused") || text.contains("ECONNREFUSED") || text.contains("errno: 111") {
                reason = .refused
            } else if error is ChannelError, case .connectTimeout(let amount) = error as? ChannelError {
                reason = .timedOut(.nanoseconds(amount.nanoseconds))
            } else {
                reason = .unreachable(text)
            }
        }
        return ConnectionOpenError(endpoint: endpoint, database: database, reason: reason)
    }
}

/// The session ended under a statement that never returned: its connection closed and no answer came after it.
public struct SessionLostError: Error, Sendable, CustomStringConvertible {
    public var endpoint: String
    public var description: String { "the session to \(endpoint) was lost (its connection closed mid-statement)" }
}

/// Runs `body` (statements on `connection`) until it ends, or until `grace` after the connection has closed —
/// whichever comes first. A statement in flight when a server goes away normally fails at once; this bounds the rare
/// one that would wait forever for an answer on a closed connection. Such a `body` is cancelled and left behind.
/// Cancelling the caller cancels `body`.
public func untilClosed<T: Sendable>(
    _ connection: PostgresConnection, endpoint: String, grace: TimeAmount = .seconds(1),
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = FirstOf<T>()
    let work = LockedTask()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.wait(continuation)
            // Unstructured on purpose: a task group would wait for a `body` that never returns.
            work.set(
                Task {
                    do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
                })
            connection.closeFuture.whenComplete { _ in
                connection.eventLoop.scheduleTask(in: grace) {
                    race.finish(.failure(SessionLostError(endpoint: endpoint)))
                    work.cancel()
                }
            }
        }
    } onCancel: {
        work.cancel()
    }
}

/// A task that may be cancelled before it is known.
private final class LockedTask: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<Void, Never>?
    private var cancelled = false

    func set(_ task: Task<Void, Never>) {
        lock.lock()
        self.task = task
        let cancelled = self.cancelled
        lock.unlock()
        if cancelled { task.cancel() }
    }

    func cancel() {
        lock.lock()
        cancelled = true
        let task = self.task
        lock.unlock()
        task?.cancel()
    }
}

/// Resumes a continuation with whichever outcome comes first; a connection that loses the race is closed.
private final class FirstOf<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var done = false

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        lock.lock()
        if done {
            lock.unlock()
            continuation.resume(throwing: CancellationError())
            return
        }
        self.continuation = continuation
        lock.unlock()
    }

    func finish(_ result: Result<T, any Error>) {
        lock.lock()
        let continuation = self.continuation
        let first = !done
        done = true
        self.continuation = nil
        lock.unlock()
        if first, let continuation {
            continuation.resume(with: result)
        } else if !first, case .success(let value) = result, let connection = value as? PostgresConnection {
            connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
        }
    }
}
