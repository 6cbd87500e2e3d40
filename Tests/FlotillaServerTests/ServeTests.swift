import FlotillaEngine
import FlotillaPostgres
import FlotillaServer
import FlotillaTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The halt announcement, and a real server on a port that stops when asked.
struct ServeTests {
    @Test func haltIsAnnouncedWithNotify() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "notify")
        try await withPostgresClient(url, logger: serverTestLogger) { client in
            let store = ControlStore(client: client, logger: serverTestLogger)
            try await store.migrate()
            let app = APIServer(store: store, token: APIToken(testToken), logger: serverTestLogger)
                .application(host: "127.0.0.1", port: 0)
            try await withPostgresConnection(url, logger: serverTestLogger) { connection in
                try await connection.listen(on: ControlStore.haltChannel) { notifications in
                    try await app.test(.router) { client in
                        let response = try await client.post(
                            "/api/halt", #"{"fleet": "demo", "reason": "stop", "force": true}"#, token: testToken)
                        #expect(response.status == .ok, "\(response.text)")
                    }
                    for try await notification in notifications {
                        #expect(notification.payload == "demo")
                        break
                    }
                }
            }
        }
    }

    @Test func runServesUntilStopped() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "run")
        try await withPostgresClient(url, logger: serverTestLogger) { client in
            let store = ControlStore(client: client, logger: serverTestLogger)
            try await store.migrate()
            let server = APIServer(store: store, token: nil, logger: serverTestLogger)
            let (ports, portsContinuation) = AsyncStream<Int?>.makeStream()
            let (stops, stopContinuation) = AsyncStream<Void>.makeStream()
            let running = Task {
                try await server.run(host: "127.0.0.1", port: 0) { port in
                    portsContinuation.yield(port)
                } stop: {
                    for await _ in stops { return }
                }
            }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next() ?? nil)
            let (data, response) = try await URLSession.shared.data(
                from: URL(string: "http://127.0.0.1:\(port)/healthz")!)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            #expect(String(decoding: data, as: UTF8.self) == "ok\n")

            stopContinuation.yield()
            try await running.value
        }
    }
}
