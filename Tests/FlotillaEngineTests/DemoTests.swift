import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// `flotilla demo` through the real binary, on an embedded PostgreSQL of its own: the canary rollout ends done, and
/// the living-fleet epilogue brings the two customers who sign up in the registry up to the fleet's phases. Read back
/// from that server with psql.
@Suite(.serialized)
struct DemoTests {
    @Test(.timeLimit(.minutes(10)))
    func demoEndsWithNewRegistryTenantsConverged() async throws {
        let folder = try makeScratchDirectory(prefix: "flotilla-demo")
        let home = folder.appendingPathComponent(".flotilla")
        defer {
            // The demo's server is stopped whatever the test found.
            _ = try? CommandLineResumeTests.start(
                try CommandLineResumeTests.flotillaBinary(), in: folder, arguments: ["down"], log: "down.log"
            ).process.waitUntilExit()
            try? FileManager.default.removeItem(at: folder)
        }
        for item in ["fleets", "policies", "schema"] {
            try FileManager.default.copyItem(
                at: ChildProcessFixtures.packageRoot.appendingPathComponent(item),
                to: folder.appendingPathComponent(item))
        }
        let (status, output) = try await ConvergeTests.run(["demo", "--rows", "20"], in: folder, limit: .seconds(400))
        #expect(status == 0, "\(output)")
        #expect(output.contains("2 tenants behind"), "\(output)")
        #expect(output.contains("converged: 2 tenants brought up"), "\(output)")
        #expect(output.contains("the fleet is uniform"), "\(output)")

        let port = try String(contentsOf: home.appendingPathComponent("postgres/port"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let password = try String(contentsOf: home.appendingPathComponent("postgres/password"), encoding: .utf8)
            .trimmingCharacters(in: .newlines)
        func server(_ database: String) -> ConnectionURL {
            ConnectionURL(
                host: "127.0.0.1", port: Int(port) ?? 0, user: EmbeddedPostgres.superuser, password: password,
                database: database, sslMode: .disable)
        }
        #expect(
            try psql(
                server("demo_a"), "SELECT string_agg(id || ':' || shard, ',' ORDER BY id) FROM public.demo_signups")
                == "newco:pg-a,startup:pg-b")
        let expected =
            "0001_users/create,0002_email_verified/expand,0002_email_verified/backfill,0002_email_verified/contract"
        for (database, schema) in [("demo_a", "tenant_newco"), ("demo_b", "tenant_startup")] {
            #expect(
                try psql(
                    server(database),
                    "SELECT string_agg(change || '/' || phase, ',' ORDER BY id) FROM \(schema).flotilla_history WHERE reverted_at IS NULL"
                ) == expected, "\(schema)")
            #expect(
                try psql(
                    server(database),
                    "SELECT count(*) FROM information_schema.columns WHERE table_schema = '\(schema)' AND table_name = 'users' AND column_name = 'email_verified'"
                ) == "1")
        }
        // An existing tenant has the same history: the new ones are where the fleet is.
        #expect(
            try psql(
                server("demo_a"),
                "SELECT string_agg(change || '/' || phase, ',' ORDER BY id) FROM tenant_acme.flotilla_history WHERE reverted_at IS NULL"
            ) == expected)
        #expect(
            try psql(
                server("flotilla"),
                "SELECT string_agg(change || ':' || state, ',' ORDER BY change) FROM flotilla.rollouts WHERE kind = 'converge'"
            ) == "0001_users:done,0002_email_verified:done")
    }
}
