import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

@Test(.timeLimit(.minutes(2)))
func experimentTaskCancel() async throws {
    let url = try await TestCluster.shared.freshDatabase(prefix: "exp")
    let logger = Logger(label: "exp")
    try await withPostgresClient(url, logger: logger) { client in
        let start = ContinuousClock.now
        let task = Task {
            try await client.withConnection { connection in
                try await connection.query("SELECT pg_sleep(5)", logger: logger)
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        task.cancel()
        let result = await task.result
        print("EXP after cancel: \(ContinuousClock.now - start) result=\(result)")
        let rows = try await client.query("SELECT count(*)::int FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state='active'", logger: logger)
        for try await c in rows.decode(Int.self) { print("EXP still active sleeps: \(c)") }
        // Transaction + cancel
        let t2 = Task {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("CREATE TABLE t (id int)", logger: logger)
                try await connection.query("SELECT pg_sleep(3)", logger: logger)
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        t2.cancel()
        print("EXP t2: \(await t2.result) at \(ContinuousClock.now - start)")
        let r2 = try await client.query("SELECT count(*)::int FROM pg_tables WHERE tablename='t'", logger: logger)
        for try await c in r2.decode(Int.self) { print("EXP table t exists: \(c)") }
    }
}
