import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// `flotilla plan` and `validate` of a fleet whose tenants come from a registry table, run as child processes.
@Suite("Tenant sources on the command line", .serialized, .timeLimit(.minutes(10)))
struct TenantSourceCommandLineTests {
    typealias Fixtures = ChildProcessFixtures

    /// A workspace with fleet `reg` (registry `public.tenants` on pg-a, 200 tenants on pg-a and pg-b, one listed),
    /// change `0001_touch` and policy `p`.
    struct Rig {
        let workspace: Fixtures.Workspace
        let children: Fixtures.Children
        let a: ConnectionURL
        let b: ConnectionURL

        /// The `from:` entry's line in fleet.yaml.
        static let fromLine = 11

        static func make() async throws -> Rig {
            let workspace = try Fixtures.Workspace(prefix: "flotilla-sources")
            let a = try await TestCluster.shared.freshDatabase(prefix: "srccli_a")
            let b = try await TestCluster.shared.freshDatabase(prefix: "srccli_b")
            _ = try psql(
                a,
                """
                CREATE TABLE public.tenants (id text, shard text, schema text, labels jsonb, active boolean);
                INSERT INTO public.tenants
                  SELECT 'c' || lpad(g::text, 3, '0'), CASE WHEN g % 2 = 0 THEN 'pg-a' ELSE 'pg-b' END,
                         'tenant_c' || lpad(g::text, 3, '0'), '{"tier": "free"}', true
                  FROM generate_series(1, 200) AS g;
                """)
            try workspace.write(
                "fleets/reg/fleet.yaml",
                """
                fleet: reg
                shards:
                  - name: pg-a
                    url: "\(postgresURL(a))"
                  - name: pg-b
                    url: "\(postgresURL(b))"
                tenants:
                  - id: listed
                    shard: pg-a
                    schema: tenant_listed
                  - from: {shard: pg-a, query: "SELECT id, shard, schema, labels FROM public.tenants WHERE active"}

                """)
            try workspace.write(
                "fleets/reg/changes/0001_touch.yaml",
                """
                change: 0001_touch
                phases:
                  - name: touch
                    up: CREATE TABLE IF NOT EXISTS touched (id int);
                    down: DROP TABLE touched;

                """)
            try workspace.write(
                "policies/p.yaml",
                """
                policy: p
                waves:
                  - {name: canary, select: {tenants: [listed, c001]}}
                  - {name: rest, select: {remaining: true}}

                """)
            return Rig(workspace: workspace, children: try Fixtures.Children(workspace: workspace), a: a, b: b)
        }

        func plan(_ name: String, _ extra: [String] = []) async throws -> Fixtures.Child {
            try await children.run(
                name, ["plan", "--fleet", "reg", "--change", "0001_touch", "--policy", "p"] + extra,
                limit: .seconds(120))
        }

        func cleanUp() {
            children.killRemaining()
            workspace.remove()
        }
    }

    @Test("plan of a registry fleet plans its 200 registry tenants and says how many the source gave")
    func planRegistry() async throws {
        let rig = try await Rig.make()
        defer { rig.cleanUp() }
        let plan = try await rig.plan("plan")
        #expect(plan.exitStatus == 0, "\(plan.transcript)")
        #expect(
            plan.output.contains(
                "tenants of fleet reg: 1 listed, 200 from: at fleets/reg/fleet.yaml:\(Rig.fromLine):5"),
            "\(plan.transcript)")
        #expect(plan.output.contains("(201 tenants on 2 shards)"), "\(plan.transcript)")
        #expect(plan.output.contains("rest: 199 tenants"), "\(plan.transcript)")

        // JSON on standard output stays one document; the count goes to standard error.
        let json = try await rig.plan("plan-json", ["--format", "json"])
        #expect(json.exitStatus == 0, "\(json.transcript)")
        let document = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        #expect(document != nil, "\(json.transcript)")
        #expect(json.errors.contains("200 from: at"), "\(json.transcript)")
        // Nothing was written: the registry is as it was, and no tenant schema was made.
        #expect(try psql(rig.a, "SELECT count(*) FROM public.tenants") == "200")
        #expect(try psql(rig.a, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant_%'") == "0")
    }

    @Test("a bad registry row stops plan and validate --resolve with exit 2, naming the from: entry and the row")
    func badRow() async throws {
        let rig = try await Rig.make()
        defer { rig.cleanUp() }
        _ = try psql(rig.a, "INSERT INTO public.tenants VALUES ('zed', 'pg-z', 'tenant_zed', '{}', true)")
        let expected =
            "fleets/reg/fleet.yaml:\(Rig.fromLine):5: error: from: tenant 'zed': shard 'pg-z' is not defined "
            + "(shards: pg-a, pg-b)"

        let plan = try await rig.plan("plan-bad")
        #expect(plan.exitStatus == 2, "\(plan.transcript)")
        #expect(plan.errors.contains(expected), "\(plan.transcript)")
        #expect(!plan.output.contains("Plan:"), "\(plan.transcript)")

        let validate = try await rig.children.run("validate", ["validate"], limit: .seconds(60))
        #expect(validate.exitStatus == 0, "plain validate does not read the registry\n\(validate.transcript)")

        let resolve = try await rig.children.run("validate-resolve", ["validate", "--resolve"], limit: .seconds(120))
        #expect(resolve.exitStatus == 2, "\(resolve.transcript)")
        #expect(resolve.errors.contains(expected), "\(resolve.transcript)")
        #expect(try psql(rig.a, "SELECT count(*) FROM public.tenants") == "201")
    }

    @Test("plan of a fleet without sources connects nowhere (its shards may be unreachable)")
    func listedStaysOffline() async throws {
        let rig = try await Rig.make()
        defer { rig.cleanUp() }
        try rig.workspace.write(
            "fleets/reg/fleet.yaml",
            """
            fleet: reg
            shards:
              - name: pg-a
                url: "postgres://nobody@192.0.2.1:1/none"
            tenants:
              - {id: listed, shard: pg-a, schema: tenant_listed}
              - {id: c001, shard: pg-a, schema: tenant_c001}

            """)
        let plan = try await rig.plan("plan-offline")
        #expect(plan.exitStatus == 0, "\(plan.transcript)")
        #expect(!plan.output.contains("tenants of fleet"), "\(plan.transcript)")
        #expect(plan.output.contains("(2 tenants on 1 shard"), "\(plan.transcript)")
    }
}
