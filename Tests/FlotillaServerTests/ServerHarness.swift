import FlotillaEngine
import FlotillaPostgres
import FlotillaServer
import FlotillaTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

let serverTestLogger: Logger = {
    var logger = Logger(label: "flotilla.server-tests")
    logger.logLevel = .critical
    return logger
}()

let testToken = "s3cret-token-for-tests"

/// A migrated control store on a fresh database, the API over it, and a test client of that API (no port).
func withServer(
    token: String? = testToken,
    _ body: @escaping @Sendable (any TestClientProtocol, ConnectionURL) async throws -> Void
) async throws {
    let url = try await TestCluster.shared.freshDatabase(prefix: "serve")
    try await withPostgresClient(url, logger: serverTestLogger) { client in
        let store = ControlStore(client: client, logger: serverTestLogger)
        try await store.migrate()
        let server = APIServer(store: store, token: token.flatMap(APIToken.init), logger: serverTestLogger)
        let app = server.application(host: "127.0.0.1", port: 0)
        try await app.test(.router) { client in try await body(client, url) }
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The body as a JSON object.
    func object() throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        return try #require(value as? [String: Any], "not a JSON object: \(text)")
    }
}

extension TestClientProtocol {
    /// A POST with a JSON body, with `Authorization: Bearer token` when a token is given.
    func post(_ uri: String, _ json: String, token: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    func get(_ uri: String) async throws -> TestResponse {
        try await execute(uri: uri, method: .get)
    }
}

/// A running rollout `id` with one phase over three tenants: two applied, one pending.
func insertRollout(_ url: ConnectionURL, id: String, state: String = "running", reason: String? = nil) throws {
    let reasonSQL = reason.map { "'\($0.replacingOccurrences(of: "'", with: "''"))'" } ?? "NULL"
    _ = try psql(
        url,
        """
        INSERT INTO flotilla.rollouts (id, fleet, change, policy, state, current_phase, reason)
        VALUES ('\(id)', 'demo', '0001-add-column', 'canary', '\(state)', 'expand', \(reasonSQL));
        INSERT INTO flotilla.steps (rollout_id, phase, phase_index, wave, wave_index, tenant, shard, state)
        VALUES ('\(id)', 'expand', 0, 'canary', 0, 't1', 'pg-a', 'applied'),
               ('\(id)', 'expand', 0, 'canary', 0, 't2', 'pg-a', 'applied'),
               ('\(id)', 'expand', 0, 'rest', 1, 't3', 'pg-b', 'pending');
        INSERT INTO flotilla.events (rollout_id, kind, phase, message) VALUES ('\(id)', 'started', 'expand', 'go');
        """)
}
