import FlotillaPostgres
import FlotillaTestSupport
import Logging
import PostgresNIO
import Testing

struct PostgresClientServiceTests {
    let logger = Logger(label: "flotilla.test.client")

    @Test(.timeLimit(.minutes(10)))
    func runsTheBodyWithARunningClient() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "client")
        let database = try await withPostgresClient(url, logger: logger) { client in
            // Several queries at once go through the pool.
            try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let rows = try await client.query("SELECT current_database()", logger: logger)
                        for try await name in rows.decode(String.self) { return name }
                        return ""
                    }
                }
                var names: Set<String> = []
                for try await name in group { names.insert(name) }
                return names
            }
        }
        #expect(database == [url.database])
    }

    @Test(.timeLimit(.minutes(10)))
    func errorsFromTheBodyPassThroughAndTheClientStops() async throws {
        struct Stop: Error {}
        let url = try await TestCluster.shared.freshDatabase(prefix: "client")
        await #expect(throws: Stop.self) {
            try await withPostgresClient(url, logger: logger) { _ in throw Stop() }
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func wrongPasswordFailsAtOnceNamingTheServerNotThePassword() async throws {
        var url = try await TestCluster.shared.freshDatabase(prefix: "client")
        url.password = "wrong-hunter2"
        let error = await #expect(throws: PostgresConnectError.self) {
            try await withPostgresClient(url, logger: logger) { _ in }
        }
        let text = error?.description ?? ""
        #expect(text.contains("127.0.0.1:\(url.port)"))
        #expect(text.contains("database '\(url.database)'"))
        #expect(text.contains("user 'flotilla'"))
        #expect(text.contains("password authentication failed"))
        #expect(!text.contains("wrong-hunter2"))
        #expect(error?.sqlState == "28P01")
    }

    @Test(.timeLimit(.minutes(10)))
    func missingDatabaseIsNamed() async throws {
        let url = try await TestCluster.shared.url().with(database: "no_such_database")
        let error = await #expect(throws: PostgresConnectError.self) {
            try await withPostgresConnection(url, logger: logger) { _ in }
        }
        #expect(error?.sqlState == "3D000")
        #expect(error?.description.contains("no_such_database") == true)
    }

    @Test(.timeLimit(.minutes(10)))
    func unreachableServerIsNamed() async throws {
        let url = ConnectionURL(
            host: "127.0.0.1", port: 1, user: "app", password: "hunter2", database: "db", sslMode: .disable)
        let error = await #expect(throws: PostgresConnectError.self) {
            try await withPostgresClient(url, logger: logger) { _ in }
        }
        #expect(
            error?.description.hasPrefix("could not connect to PostgreSQL at 127.0.0.1:1 (database 'db', user 'app'): ")
                == true)
        #expect(error?.description.contains("hunter2") == false)
    }
}
