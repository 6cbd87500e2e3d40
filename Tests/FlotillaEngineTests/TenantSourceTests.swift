import FlotillaEngine
import FlotillaModel
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Tenant sources resolved against a real PostgreSQL: registry tables, schemas and databases discovered on shards.
@Suite("Tenant sources", .serialized, .timeLimit(.minutes(10)))
struct TenantSourceTests {
    /// A fleet on two fresh databases (`pg-a`, `pg-b`) whose `tenants:` is `items` (YAML list items, indented).
    struct Rig {
        var a: ConnectionURL
        var b: ConnectionURL

        static func make() async throws -> Rig {
            Rig(
                a: try await TestCluster.shared.freshDatabase(prefix: "src_a"),
                b: try await TestCluster.shared.freshDatabase(prefix: "src_b"))
        }

        func fleet(_ items: String) throws -> Fleet {
            let text = """
                fleet: sources
                shards:
                  - name: pg-a
                    url: \(postgresURL(a))
                  - name: pg-b
                    url: \(postgresURL(b))
                tenants:
                \(items)
                """
            do {
                return try Fleet.parse(text, file: "fleets/sources/fleet.yaml", environment: [:])
            } catch {
                throw TestFailure("fleet: \(error)")
            }
        }

        func resolve(_ fleet: Fleet) async throws -> ResolvedFleet {
            try await TenantSources.resolve(
                fleet, embedded: nil, environment: [:], deadlines: testDeadlines, logger: engineTestLogger)
        }

        /// The problems resolving `fleet` reports (none when it resolves).
        func problems(_ fleet: Fleet) async throws -> [TenantSourceError] {
            do {
                _ = try await resolve(fleet)
                return []
            } catch let error as TenantSourceErrors {
                return error.errors
            }
        }
    }

    /// `public.tenants` on `url`: 200 active tenants, half on each shard, and 5 inactive ones.
    static func createRegistry(_ url: ConnectionURL) throws {
        _ = try psql(
            url,
            """
            CREATE TABLE public.tenants (id text, shard text, schema text, labels jsonb, active boolean);
            INSERT INTO public.tenants
              SELECT 'c' || lpad(g::text, 4, '0'), CASE WHEN g % 2 = 0 THEN 'pg-a' ELSE 'pg-b' END,
                     'tenant_c' || lpad(g::text, 4, '0'),
                     jsonb_build_object('tier', CASE WHEN g <= 10 THEN 'internal' ELSE 'free' END),
                     g <= 200
              FROM generate_series(1, 205) AS g;
            """)
    }

    @Test("a registry table of 200 tenants on 2 shards resolves to them, after the listed ones, read-only")
    func registry() async throws {
        let rig = try await Rig.make()
        try Self.createRegistry(rig.a)
        let fleet = try rig.fleet(
            """
              - id: listed
                shard: pg-a
                schema: tenant_listed
              - from: {shard: pg-a, query: "SELECT id, shard, schema, labels FROM public.tenants WHERE active ORDER BY id;"}
            """)
        #expect(fleet.tenants.map(\.id) == ["listed"])
        #expect(fleet.sources.count == 1)
        let resolved = try await rig.resolve(fleet)
        let tenants = resolved.fleet.tenants
        #expect(tenants.count == 201)
        #expect(resolved.listed == 1)
        #expect(resolved.sources.map(\.tenants) == [200])
        #expect(resolved.summary == "1 listed, 200 from: at fleets/sources/fleet.yaml:11:5")
        #expect(tenants.first?.id == "listed")
        // What PostgreSQL holds is what was resolved.
        let stored = lines(
            try psql(
                rig.a,
                "SELECT id || '|' || shard || '|' || schema || '|' || (labels->>'tier') FROM public.tenants WHERE active ORDER BY id"
            ))
        let got = tenants.dropFirst().map { "\($0.id)|\($0.shard)|\($0.placement.name)|\($0.labels["tier"] ?? "")" }
        #expect(got == stored)
        #expect(tenants.filter { $0.shard == "pg-a" }.count == 101)
        #expect(tenants.dropFirst().allSatisfy { $0.location == fleet.sources[0].location })
        if case .schema = tenants[1].placement {} else { Issue.record("expected schema tenants") }

        // The query runs in a read-only transaction: a query that writes fails, and nothing changes.
        let writing = try rig.fleet(
            """
              - from: {shard: pg-a, query: "DELETE FROM public.tenants RETURNING id, shard, schema"}
            """)
        let problems = try await rig.problems(writing)
        #expect(problems.count == 1)
        if case .database(_, let sqlState) = problems.first?.problem {
            #expect(sqlState == "25006")
        } else {
            Issue.record("expected a database error, got \(problems)")
        }
        #expect(try psql(rig.a, "SELECT count(*) FROM public.tenants") == "205")
    }

    /// Each bad shape of registry row, the query that returns it, and what its error must say.
    struct BadRow: Sendable, CustomStringConvertible {
        var name: String
        var query: String
        var tenant: String?
        var row: Int?
        var says: String
        var description: String { name }
    }

    static let badRows: [BadRow] = [
        BadRow(
            name: "another column", query: "SELECT id, shard, schema, note FROM public.registry WHERE id = 'extra'",
            tenant: "extra", says: "column 'note' is not one a registry query returns"),
        BadRow(
            name: "NULL id", query: "SELECT id, shard, schema FROM public.registry WHERE note = 'null id'",
            row: 1, says: "'id' is NULL"),
        BadRow(
            name: "no id column", query: "SELECT shard, schema FROM public.registry WHERE id = 'ok1'",
            row: 1, says: "the query returns no 'id' column"),
        BadRow(
            name: "shard not in the fleet", query: "SELECT id, shard, schema FROM public.registry WHERE id = 'lost'",
            tenant: "lost", says: "shard 'pg-z' is not defined (shards: pg-a, pg-b)"),
        BadRow(
            name: "invalid schema name", query: "SELECT id, shard, schema FROM public.registry WHERE id = 'hostile'",
            tenant: "hostile", says: "schema 'x\"; DROP TABLE users; --' contains"),
        BadRow(
            name: "invalid tenant id", query: "SELECT id, shard, schema FROM public.registry WHERE id = 'bad id!'",
            tenant: "bad id!", says: "tenant id 'bad id!' contains ' '"),
        BadRow(
            name: "schema and database",
            query: "SELECT id, shard, schema, 'db_x' AS database FROM public.registry WHERE id = 'ok1'",
            tenant: "ok1", says: "has both a schema and a database"),
        BadRow(
            name: "labels not an object of strings",
            query: "SELECT id, shard, schema, labels FROM public.registry WHERE id = 'badlabels'",
            tenant: "badlabels", says: "labels 'size' is not a string"),
        BadRow(
            name: "labels not json",
            query: "SELECT id, shard, schema, 'x'::text AS labels FROM public.registry WHERE id = 'ok1'",
            tenant: "ok1", says: "labels are not JSON"),
        BadRow(
            name: "duplicate id within the source",
            query:
                "SELECT id, shard, schema FROM public.registry WHERE id = 'ok1' UNION ALL SELECT 'ok1', 'pg-b', 'tenant_other'",
            tenant: "ok1", row: 2,
            says: "duplicate tenant id (first given by from: at fleets/sources/fleet.yaml:12:5 row 1)"),
        BadRow(
            name: "duplicate id of a listed tenant",
            query: "SELECT 'listed' AS id, 'pg-a' AS shard, 'tenant_elsewhere' AS schema",
            tenant: "listed", says: "duplicate tenant id (first given at fleets/sources/fleet.yaml:"),
        BadRow(
            name: "place of a listed tenant",
            query: "SELECT 'newcomer' AS id, 'pg-a' AS shard, 'tenant_listed' AS schema",
            tenant: "newcomer", says: "uses schema tenant_listed on shard 'pg-a', which tenant 'listed' already uses"),
        BadRow(
            name: "no schema or database",
            query: "SELECT id, shard FROM public.registry WHERE id = 'ok1'",
            tenant: "ok1", says: "the query returns no 'schema' or 'database' column"),
        BadRow(
            name: "NULL schema", query: "SELECT id, shard, NULL::text AS schema FROM public.registry WHERE id = 'ok1'",
            tenant: "ok1", says: "'schema' is NULL"),
        BadRow(
            name: "a column of another type",
            query: "SELECT id, shard, schema, now() AS labels FROM public.registry WHERE id = 'ok1'",
            tenant: "ok1", says: "column 'labels' is of type"),
    ]

    @Test("each bad registry row is an error naming the from: entry's place and the row's id", arguments: badRows)
    func badRow(_ bad: BadRow) async throws {
        let rig = try await Rig.make()
        _ = try psql(
            rig.a,
            """
            CREATE TABLE public.registry (id text, shard text, schema text, labels jsonb, note text);
            INSERT INTO public.registry VALUES
              ('ok1', 'pg-a', 'tenant_ok1', '{"tier": "free"}', NULL),
              ('extra', 'pg-a', 'tenant_extra', NULL, 'x'),
              (NULL, 'pg-a', 'tenant_nobody', NULL, 'null id'),
              ('lost', 'pg-z', 'tenant_lost', NULL, NULL),
              ('hostile', 'pg-b', 'x"; DROP TABLE users; --', NULL, NULL),
              ('bad id!', 'pg-b', 'tenant_bad', NULL, NULL),
              ('badlabels', 'pg-b', 'tenant_badlabels', '{"size": 3}', NULL);
            """)
        let query = bad.query.replacingOccurrences(of: "\"", with: "\\\"")
        let fleet = try rig.fleet(
            """
              - id: listed
                shard: pg-a
                schema: tenant_listed
              - generate: {count: 2, id: "g{n}", shard: pg-b, schema: "tenant_{id}"}
              - from: {shard: pg-a, query: "\(query)"}
            """)
        let problems = try await rig.problems(fleet)
        #expect(problems.count == 1, "\(problems)")
        guard let problem = problems.first else { return }
        #expect(problem.tenant == bad.tenant)
        if let row = bad.row { #expect(problem.row == row) }
        #expect(problem.source.location == SourceLocation(file: "fleets/sources/fleet.yaml", line: 12, column: 5))
        let text = problem.description
        #expect(text.hasPrefix("fleets/sources/fleet.yaml:12:5: error: from: "), "\(text)")
        #expect(text.contains(bad.says), "\(text)")
        if let tenant = bad.tenant { #expect(text.contains("tenant '\(tenant)'"), "\(text)") }
        // Nothing was written: the registry holds what it held.
        #expect(try psql(rig.a, "SELECT count(*) FROM public.registry") == "7")
    }

    @Test("an id two sources give is an error at the second source, naming the first")
    func duplicateAcrossSources() async throws {
        let rig = try await Rig.make()
        _ = try psql(rig.b, "CREATE SCHEMA tenant_twin;")
        let fleet = try rig.fleet(
            """
              - from: {url: "\(postgresURL(rig.a))", query: "SELECT 'twin' AS id, 'pg-a' AS shard, 'tenant_twin' AS schema"}
              - discover: {shard: pg-b, schemas: "tenant_%", id: "{name#tenant_}"}
            """)
        let problems = try await rig.problems(fleet)
        #expect(problems.count == 1)
        #expect(problems.first?.tenant == "twin")
        #expect(problems.first?.source.key == "discover")
        #expect(
            problems.first?.description
                == "fleets/sources/fleet.yaml:9:5: error: discover: tenant 'twin': duplicate tenant id (first given by "
                + "from: at fleets/sources/fleet.yaml:8:5 row 1)")
    }

    @Test("schemas are discovered by pattern; catalogs, public and the control schema never are")
    func schemaDiscovery() async throws {
        let rig = try await Rig.make()
        _ = try psql(rig.a, "CREATE SCHEMA tenant_acme; CREATE SCHEMA tenant_globex; CREATE SCHEMA other_thing;")
        // pg-b also has the control schema, a temporary schema (kept in the catalog once used) and TOAST's.
        _ = try psql(
            rig.b,
            """
            CREATE SCHEMA tenant_initech; CREATE SCHEMA flotilla;
            CREATE TEMP TABLE scratch (x text); INSERT INTO scratch SELECT repeat('x', 100000);
            """)
        let fleet = try rig.fleet(
            """
              - discover: {shards: [pg-a, pg-b], schemas: "tenant_%", id: "eu-{name#tenant_}", labels: {region: eu}}
              - discover: {shard: pg-a, schemas: "other%"}
            """)
        #expect(fleet.tenants.isEmpty)
        let resolved = try await rig.resolve(fleet)
        let tenants = resolved.fleet.tenants
        #expect(
            tenants.map { "\($0.id)@\($0.shard):\($0.placement)" } == [
                "eu-acme@pg-a:schema tenant_acme", "eu-globex@pg-a:schema tenant_globex",
                "eu-initech@pg-b:schema tenant_initech", "other_thing@pg-a:schema other_thing",
            ])
        #expect(resolved.sources.map(\.tenants) == [3, 1])
        #expect(tenants.prefix(3).allSatisfy { $0.labels == ["region": "eu"] })
        #expect(tenants.last?.labels == [:])

        // `%` on pg-b: its one tenant schema, none of PostgreSQL's, nor public, nor the control schema.
        let everything = try rig.fleet(
            """
              - discover: {shard: pg-b, schemas: "%"}
            """)
        #expect(try await rig.resolve(everything).fleet.tenants.map(\.id) == ["tenant_initech"])
        let held = Set(lines(try psql(rig.b, "SELECT nspname FROM pg_namespace")))
        #expect(held.isSuperset(of: ["public", "flotilla", "pg_catalog", "information_schema", "pg_toast"]))
        #expect(held.contains { $0.hasPrefix("pg_temp") })
    }

    @Test("databases are discovered on a shard's server by pattern, never templates or postgres")
    func databaseDiscovery() async throws {
        let rig = try await Rig.make()
        let prefix = uniqueName("dbt")
        for name in ["one", "two", "three"] { _ = try psql(rig.a, "CREATE DATABASE \(prefix)_\(name);") }
        _ = try psql(rig.a, "CREATE DATABASE \(prefix)_tpl IS_TEMPLATE true;")
        defer {
            for name in ["one", "two", "three"] { _ = try? psql(rig.a, "DROP DATABASE IF EXISTS \(prefix)_\(name);") }
            _ = try? psql(rig.a, "ALTER DATABASE \(prefix)_tpl IS_TEMPLATE false; DROP DATABASE \(prefix)_tpl;")
        }
        let fleet = try rig.fleet(
            """
              - discover: {shard: pg-a, databases: "\(prefix)\\\\_%", id: "{name#\(prefix)_}", labels: {tier: db}}
            """)
        let resolved = try await rig.resolve(fleet)
        let tenants = resolved.fleet.tenants
        #expect(tenants.map(\.id) == ["one", "three", "two"])
        #expect(tenants.map(\.placement) == ["one", "three", "two"].map { .database("\(prefix)_\($0)") })
        #expect(tenants.allSatisfy { $0.shard == "pg-a" && $0.labels == ["tier": "db"] })
        // What the server holds: the three, and the template that was left out.
        let stored = lines(
            try psql(
                rig.a,
                "SELECT datname || ':' || datistemplate FROM pg_database WHERE datname LIKE '\(prefix)%' ORDER BY 1"))
        #expect(
            stored == ["\(prefix)_one:false", "\(prefix)_three:false", "\(prefix)_tpl:true", "\(prefix)_two:false"])
    }

    @Test("a tenant created after the fleet was resolved is not in that resolved set; the next resolution has it")
    func createdAfterResolution() async throws {
        let rig = try await Rig.make()
        try Self.createRegistry(rig.a)
        let fleet = try rig.fleet(
            """
              - from: {shard: pg-a, query: "SELECT id, shard, schema, labels FROM public.tenants WHERE active"}
            """)
        let before = try await rig.resolve(fleet)
        _ = try psql(rig.a, "INSERT INTO public.tenants VALUES ('late', 'pg-b', 'tenant_late', '{}', true)")
        let after = try await rig.resolve(fleet)
        #expect(before.fleet.tenants.count == 200)
        #expect(!before.fleet.tenants.contains { $0.id == "late" })
        #expect(after.fleet.tenants.count == 201)
        #expect(after.fleet.tenants.contains { $0.id == "late" && $0.shard == "pg-b" })
    }

    @Test("a registry that cannot be reached is an error at its from: entry, without the password")
    func unreachableRegistry() async throws {
        let rig = try await Rig.make()
        let fleet = try rig.fleet(
            """
              - from: {url: "postgres://reader:s3cret-pw@127.0.0.1:1/registry", query: "SELECT 1 AS id"}
            """)
        let problems = try await rig.problems(fleet)
        #expect(problems.count == 1)
        guard let problem = problems.first else { return }
        if case .database = problem.problem {} else { Issue.record("expected a database problem: \(problem)") }
        #expect(!problem.isDefinitionProblem)
        #expect(problem.description.hasPrefix("fleets/sources/fleet.yaml:8:5: error: from: cannot connect to "))
        #expect(!problem.description.contains("s3cret"), "\(problem)")
    }

    @Test("a fleet without sources resolves to itself without connecting")
    func noSources() async throws {
        let fleet = makeFleet(
            name: "offline", shards: [("pg-a", ConnectionURL(host: "192.0.2.1", port: 1, user: "x", database: "x"))],
            tenants: [schemaTenant("a", shard: "pg-a")])
        let resolved = try await TenantSources.resolve(
            fleet, embedded: nil, environment: [:], deadlines: testDeadlines, logger: engineTestLogger)
        #expect(resolved.fleet == fleet)
        #expect(resolved.sources.isEmpty)
    }
}
