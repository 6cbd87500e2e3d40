import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// What PostgresNIO 1.33 does in the situations the engine depends on, checked on a real server,
/// so that a change of behaviour in an upgrade shows up here first.
struct PostgresNIOBehaviourTests {
    let logger = Logger(label: "flotilla.test.nio")

    /// PostgresNIO only speaks the extended protocol: one statement per query. Several statements
    /// in one string are refused by the server, so change SQL must be split (or wrapped in a DO block).
    @Test(.timeLimit(.minutes(10)))
    func severalStatementsInOneQueryAreRefused() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "nio")
        let error = await #expect(throws: PSQLError.self) {
            try await withPostgresConnection(url, logger: logger) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE TABLE a (id int); CREATE TABLE b (id int)"), logger: logger)
            }
        }
        #expect(error.flatMap(postgresSQLState) == "42601")
        #expect(
            error.map(postgresErrorSummary)?.contains("cannot insert multiple commands into a prepared statement")
                == true)
        #expect(try psql(url, "SELECT count(*) FROM pg_tables WHERE tablename IN ('a', 'b')") == "0")

        // The deprecated simpleQuery is the same extended-protocol query under another name.
        let simple = await #expect(throws: (any Error).self) {
            try await withPostgresConnection(url, logger: logger) { connection in
                _ = try await connection.simpleQuery("CREATE TABLE a (id int); CREATE TABLE b (id int)").get()
            }
        }
        #expect(simple.flatMap(postgresSQLState) == "42601")
        #expect(simple.map(postgresErrorSummary)?.contains("cannot insert multiple commands") == true)

        // One statement per query, on one connection, in one transaction: fine.
        try await withPostgresConnection(url, logger: logger) { connection in
            try await connection.withTransaction(logger: logger) { connection in
                for statement in ["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
        }
        #expect(try psql(url, "SELECT count(*) FROM pg_tables WHERE tablename IN ('a', 'b')") == "2")
    }

    /// Cancelling the Swift task does not stop a running statement on the server; PostgresNIO has no
    /// CancelRequest. `pg_cancel_backend(pid)` from another connection does, with SQLSTATE 57014.
    @Test(.timeLimit(.minutes(10)))
    func aRunningStatementIsCancelledWithPgCancelBackend() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "nio")
        let logger = self.logger
        try await withPostgresClient(url, logger: logger) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (pids, pidContinuation) = AsyncStream.makeStream(of: Int.self)
                group.addTask {
                    let error = await #expect(throws: PSQLError.self) {
                        try await client.withConnection { connection in
                            for try await pid in try await connection.query("SELECT pg_backend_pid()", logger: logger)
                                .decode(Int.self)
                            {
                                pidContinuation.yield(pid)
                            }
                            _ = try await connection.query("SELECT pg_sleep(60)", logger: logger).collect()
                        }
                    }
                    #expect(error.flatMap(postgresSQLState) == "57014")
                    #expect(
                        error.map(postgresErrorSummary)?.contains("canceling statement due to user request") == true)
                }
                var iterator = pids.makeAsyncIterator()
                let pid = try #require(await iterator.next())
                // Wait until the sleep is running, then cancel it from another connection.
                while try await !isRunningSleep(pid: pid, client: client) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                // A Swift Int binds as bigint: functions taking an integer need a cast.
                let cancelled = try await client.query("SELECT pg_cancel_backend(\(pid)::int)", logger: logger)
                for try await ok in cancelled.decode(Bool.self) { #expect(ok) }
                try await group.waitForAll()
            }
        }
    }

    private func isRunningSleep(pid: Int, client: PostgresClient) async throws -> Bool {
        let rows = try await client.query(
            """
            SELECT count(*)::int FROM pg_stat_activity
            WHERE pid = \(pid) AND state = 'active' AND query LIKE 'SELECT pg_sleep%'
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count == 1 }
        return false
    }

    /// `statement_timeout` set on the session ends a statement on the server side. Like every error
    /// raised while a statement runs, it surfaces while its rows are read: `query` itself returns as
    /// soon as the row description arrives, so rows that are never read hide the failure.
    @Test(.timeLimit(.minutes(10)))
    func statementTimeoutEndsALongStatementOnceRowsAreRead() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "nio")
        let error = await #expect(throws: PSQLError.self) {
            try await withPostgresConnection(url, logger: logger) { connection in
                try await connection.query("SET statement_timeout = '200ms'", logger: logger)
                let rows = try await connection.query("SELECT pg_sleep(30)", logger: logger)
                _ = try await rows.collect()
            }
        }
        #expect(error.flatMap(postgresSQLState) == "57014")
        #expect(error.map(postgresErrorSummary)?.contains("canceling statement due to statement timeout") == true)
    }

    /// LISTEN on one leased connection receives a NOTIFY sent from another one.
    @Test(.timeLimit(.minutes(10)))
    func listenReceivesNotify() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "nio")
        let logger = self.logger
        let payload = try await withPostgresClient(url, logger: logger) { client in
            try await withThrowingTaskGroup(of: String?.self) { group in
                let (listening, listeningContinuation) = AsyncStream.makeStream(of: Void.self)
                group.addTask {
                    try await client.withConnection { connection in
                        try await connection.listen(on: "flotilla_halt") { notifications in
                            listeningContinuation.yield()
                            for try await notification in notifications { return notification.payload }
                            return nil
                        }
                    }
                }
                for await _ in listening { break }
                try await client.query("SELECT pg_notify('flotilla_halt', \("fleet demo: stop"))", logger: logger)
                let received = try await group.next() ?? nil
                group.cancelAll()
                return received
            }
        }
        #expect(payload == "fleet demo: stop")
    }
}
