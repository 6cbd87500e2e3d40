import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

@Test(.timeLimit(.minutes(2)))
func debugCancel() async throws {
    let url = try await TestCluster.shared.freshDatabase(prefix: "dbg")
    let logger = Logger(label: "dbg")
    do {
        try await withPostgresClient(url, logger: logger) { client in
            let pidRows = try await client.query("SELECT pg_backend_pid()", logger: logger)
            for try await pid in pidRows.decode(Int.self) { print("DBG pid via client \(pid)") }
            let r = try await client.query("SELECT pg_cancel_backend(\(1))", logger: logger)
            for try await ok in r.decode(Bool.self) { print("DBG cancel result \(ok)") }
        }
    } catch {
        print("DBG error: \(String(reflecting: error))")
    }
}
