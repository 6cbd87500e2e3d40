import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// `flotilla lint --fleet` and rollout's risk gate judged on the fleet's live schema, run as child processes on a
/// fleet with a small tenant (300 users) and a large one (200 000 users), thresholds rows_medium 1000, rows_high
/// 100 000.
@Suite("Lint on the live schema", .serialized, .timeLimit(.minutes(10)), .heavy)
struct LiveLintTests {
    typealias Fixtures = ChildProcessFixtures

    struct Rig {
        let workspace: Fixtures.Workspace
        let children: Fixtures.Children
        let shard: ConnectionURL

        static func make() async throws -> Rig {
            let workspace = try Fixtures.Workspace(prefix: "flotilla-livelint")
            let shard = try await TestCluster.shared.freshDatabase(prefix: "livelint")
            let control = try await TestCluster.shared.freshDatabase(prefix: "livelint_ctl")
            var setup = ""
            for (schema, rows) in [("tenant_small", 300), ("tenant_big", 200_000)] {
                setup += """
                    CREATE SCHEMA \(schema);
                    CREATE TABLE \(schema).orgs (id int PRIMARY KEY);
                    CREATE TABLE \(schema).users (
                        id int PRIMARY KEY, email varchar(20), name text, org_id int, note text);
                    ALTER TABLE \(schema).users ADD CONSTRAINT users_name_present CHECK (name IS NOT NULL);
                    INSERT INTO \(schema).orgs VALUES (1);
                    INSERT INTO \(schema).users SELECT g, 'u' || g, 'n' || g, 1, NULL FROM generate_series(1, \(rows)) g;
                    ANALYZE \(schema).users;
                    ANALYZE \(schema).orgs;

                    """
            }
            _ = try psql(shard, setup)
            try workspace.write(
                "fleets/live/fleet.yaml",
                """
                fleet: live
                control: "\(postgresURL(control))"
                shards:
                  - name: s1
                    url: "\(postgresURL(shard))"
                tenants:
                  - {id: small, shard: s1, schema: tenant_small}
                  - {id: big, shard: s1, schema: tenant_big}

                """)
            try workspace.write(
                "fleets/live/changes/0001_live.yaml",
                """
                change: 0001_live
                phases:
                  - name: widen
                    up: ALTER TABLE users ALTER COLUMN email TYPE varchar(256);
                    down: SELECT 1;
                  - name: enforce
                    up: ALTER TABLE users ALTER COLUMN name SET NOT NULL;
                    down: ALTER TABLE users ALTER COLUMN name DROP NOT NULL;
                  - name: link
                    up: ALTER TABLE users ADD CONSTRAINT users_org FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;
                    down: ALTER TABLE users DROP CONSTRAINT users_org;
                  - name: index
                    up: CREATE INDEX users_note ON users (note);
                    down: DROP INDEX users_note;

                """)
            try workspace.write(
                "fleets/live/changes/0002_safe.yaml",
                """
                change: 0002_safe
                phases:
                  - name: widen
                    up: ALTER TABLE users ALTER COLUMN email TYPE varchar(256);
                    down: SELECT 1;
                  - name: enforce
                    up: ALTER TABLE users ALTER COLUMN name SET NOT NULL;
                    down: ALTER TABLE users ALTER COLUMN name DROP NOT NULL;

                """)
            try workspace.write(
                "fleets/live/changes/0003_index.yaml",
                """
                change: 0003_index
                phases:
                  - name: index
                    up: CREATE INDEX users_note ON users (note);
                    down: DROP INDEX users_note;

                """)
            try workspace.write(
                "policies/p.yaml",
                """
                policy: p
                waves:
                  - {name: canary, select: {tenants: [small]}}
                  - {name: rest, select: {remaining: true}}
                lock_timeout: 5s
                risk: {rows_medium: 1000, rows_high: 100000}

                """)
            return Rig(workspace: workspace, children: try Fixtures.Children(workspace: workspace), shard: shard)
        }

        func lint(_ name: String, _ extra: [String], change: String = "0001_live") async throws -> Fixtures.Child {
            try await children.run(
                name, ["lint", "--fleet", "live", "--policy", "p", "--format", "json"] + extra + [change],
                limit: .seconds(120))
        }

        func cleanUp() {
            children.killRemaining()
            workspace.remove()
        }
    }

    /// The findings of a `lint --format json` run, by rule.
    static func findings(_ child: Fixtures.Child) throws -> [String: [[String: Any]]] {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(child.output.utf8)) as? [String: Any], "\(child.transcript)")
        let findings = try #require(document["findings"] as? [[String: Any]], "\(child.transcript)")
        return Dictionary(grouping: findings) { $0["rule"] as? String ?? "" }
    }

    static func judged(_ finding: [String: Any]?) -> [String: Any] {
        finding?["judged"] as? [String: Any] ?? [:]
    }

    @Test("the same statements are judged differently on the small and the large tenant")
    func smallAndLarge() async throws {
        let rig = try await Rig.make()
        defer { rig.cleanUp() }

        let small = try await rig.lint("small", ["--tenant", "small"])
        #expect(small.exitStatus == 0, "\(small.transcript)")
        #expect(small.errors.contains("judged on tenant small (shard s1, schema tenant_small"), "\(small.transcript)")
        let onSmall = try Self.findings(small)
        // varchar(20) → varchar(256): binary-coercible from the live type, lowered.
        let widen = try #require(onSmall["alter-column-type-compatible"]?.first, "\(small.transcript)")
        #expect(widen["risk"] as? String == "low")
        #expect((widen["message"] as? String)?.contains("email is character varying(20) on tenant small") == true)
        #expect(Self.judged(widen)["static_risk"] as? String == "high")
        // SET NOT NULL proven by the validated check: lowered.
        let enforce = try #require(onSmall["set-not-null"]?.first, "\(small.transcript)")
        #expect(enforce["risk"] as? String == "low")
        #expect((enforce["message"] as? String)?.contains("validated CHECK (name IS NOT NULL)") == true)
        // A foreign key no index leads with.
        let link = try #require(onSmall["fk-without-index"]?.first, "\(small.transcript)")
        #expect(link["risk"] as? String == "medium")
        #expect(link["phase"] as? String == "link")
        // CREATE INDEX of a 300-row table: one step lower than its rule.
        let index = try #require(onSmall["create-index"]?.first, "\(small.transcript)")
        #expect(index["risk"] as? String == "low")
        #expect(Self.judged(index)["tenant"] as? String == "small")
        #expect(Self.judged(index)["shard"] as? String == "s1")
        #expect(Self.judged(index)["rows"] as? Int == 300)

        let big = try await rig.lint("big", ["--tenant", "big"])
        #expect(big.exitStatus == 1, "a high finding fails lint\n\(big.transcript)")
        let onBig = try Self.findings(big)
        let bigIndex = try #require(onBig["create-index"]?.first, "\(big.transcript)")
        #expect(bigIndex["risk"] as? String == "high")
        #expect((Self.judged(bigIndex)["rows"] as? Int ?? 0) >= 100_000, "\(big.transcript)")
        #expect(onBig["alter-column-type-compatible"]?.first?["risk"] as? String == "low")

        // Without --tenant: the largest tenant, and it says so.
        let largest = try await rig.lint("largest", [])
        #expect(largest.exitStatus == 1, "\(largest.transcript)")
        #expect(largest.errors.contains("judged on tenant big"), "\(largest.transcript)")
        #expect(largest.errors.contains("the largest tenant in the touched tables"), "\(largest.transcript)")
        #expect(Self.judged(try Self.findings(largest)["create-index"]?.first)["tenant"] as? String == "big")

        // Statically, without the fleet, the type change and the SET NOT NULL are high.
        let offline = try await rig.children.run(
            "static", ["lint", "--format", "json", "fleets/live/changes/0001_live.yaml"], limit: .seconds(60))
        let statically = try Self.findings(offline)
        #expect(statically["alter-column-type"]?.first?["risk"] as? String == "high", "\(offline.transcript)")
        #expect(statically["set-not-null"]?.first?["risk"] as? String == "high", "\(offline.transcript)")
        #expect(statically["fk-without-index"] == nil)

        // Nothing was written: still varchar(20), no index, no constraint.
        #expect(
            try psql(
                rig.shard,
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'tenant_big.users'::regclass AND attname = 'email'"
            ) == "character varying(20)")
        #expect(try psql(rig.shard, "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_note'") == "0")
    }

    @Test("an unknown tenant is a clear error with exit 2; --tenant and --largest exclude each other")
    func unknownTenant() async throws {
        let rig = try await Rig.make()
        defer { rig.cleanUp() }
        let unknown = try await rig.lint("unknown", ["--tenant", "nobody"])
        #expect(unknown.exitStatus == 2, "\(unknown.transcript)")
        #expect(unknown.errors.contains("fleet live has no tenant 'nobody'"), "\(unknown.transcript)")
        let both = try await rig.lint("both", ["--tenant", "big", "--largest"])
        #expect(both.exitStatus == 64, "\(both.transcript)")
        #expect(both.errors.contains("give --tenant or --largest, not both"), "\(both.transcript)")
    }

    @Test("rollout's risk gate passes what the live schema proves safe and refuses what the table's size makes high")
    func rolloutGate() async throws {
        let rig = try await Rig.make()
        defer { rig.cleanUp() }
        let storage = "SELECT pg_relation_filenode('tenant_big.users')"
        let before = try psql(rig.shard, storage)
        let safe = try await rig.children.run(
            "rollout-safe", ["rollout", "--fleet", "live", "--change", "0002_safe", "--policy", "p", "--yes"],
            limit: .seconds(240))
        #expect(safe.exitStatus == 0, "\(safe.transcript)")
        #expect(!safe.errors.contains("refusing to roll out"), "\(safe.transcript)")
        for schema in ["tenant_small", "tenant_big"] {
            #expect(
                try psql(
                    rig.shard,
                    "SELECT format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END FROM pg_attribute WHERE attrelid = '\(schema).users'::regclass AND attname IN ('email', 'name') ORDER BY attname"
                ) == "character varying(256)\ntext not null", "\(schema)\n\(safe.transcript)")
        }

        // The type change was catalog-only, as the live schema said: the table's storage is the same file.
        #expect(try psql(rig.shard, storage) == before)

        let index = try await rig.children.run(
            "rollout-index", ["rollout", "--fleet", "live", "--change", "0003_index", "--policy", "p", "--yes"],
            limit: .seconds(240))
        #expect(index.exitStatus == 2, "\(index.transcript)")
        #expect(index.errors.contains("refusing to roll out 0003_index"), "\(index.transcript)")
        #expect(
            index.errors.contains("users has 200000 rows on tenant big") || index.errors.contains("rows on tenant big"),
            "\(index.transcript)")
        #expect(try psql(rig.shard, "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_note'") == "0")
    }

    @Test("--largest ranks each shard's tenants, schemas and databases, and judges on the largest of them")
    func largestAcrossShards() async throws {
        let rig = try await Rig.make()
        defer { rig.cleanUp() }
        let fresh = try await TestCluster.shared.freshDatabase(prefix: "livelint_d1")
        let analyzed = try await TestCluster.shared.freshDatabase(prefix: "livelint_d2")
        // Never analyzed: reltuples is -1, so its rows are counted.
        _ = try psql(
            fresh,
            "CREATE TABLE users (id int, note text); INSERT INTO users SELECT g, NULL FROM generate_series(1, 50) g;")
        _ = try psql(
            analyzed,
            """
            CREATE TABLE users (id int, note text);
            INSERT INTO users SELECT g, NULL FROM generate_series(1, 5000) g;
            ANALYZE users;
            """)
        try rig.workspace.write(
            "fleets/mixed/fleet.yaml",
            """
            fleet: mixed
            shards:
              - name: s1
                url: "\(postgresURL(rig.shard))"
              - name: s2
                url: "\(postgresURL(fresh))"
            tenants:
              - {id: small, shard: s1, schema: tenant_small}
              - {id: big, shard: s1, schema: tenant_big}
              - {id: dfresh, shard: s2, database: \(fresh.database)}
              - {id: danalyzed, shard: s2, database: \(analyzed.database)}

            """)
        let change = "fleets/live/changes/0003_index.yaml"
        let largest = try await rig.children.run(
            "mixed-largest", ["lint", "--fleet", "mixed", "--policy", "p", "--format", "json", "--largest", change],
            limit: .seconds(120))
        #expect(largest.exitStatus == 1, "\(largest.transcript)")
        #expect(largest.errors.contains("judged on tenant big (shard s1"), "\(largest.transcript)")
        #expect(largest.errors.contains("danalyzed on s2 (5000 rows)"), "\(largest.transcript)")
        #expect(largest.errors.contains("big on s1 ("), "\(largest.transcript)")

        let database = try await rig.children.run(
            "mixed-database",
            ["lint", "--fleet", "mixed", "--policy", "p", "--format", "json", "--tenant", "danalyzed", change],
            limit: .seconds(120))
        #expect(database.exitStatus == 0, "\(database.transcript)")
        let index = try #require(try Self.findings(database)["create-index"]?.first, "\(database.transcript)")
        #expect(index["risk"] as? String == "medium")
        #expect(Self.judged(index)["rows"] as? Int == 5000)
        #expect(Self.judged(index)["tenant"] as? String == "danalyzed")

        let counted = try await rig.children.run(
            "mixed-counted",
            ["lint", "--fleet", "mixed", "--policy", "p", "--format", "json", "--tenant", "dfresh", change],
            limit: .seconds(120))
        let freshIndex = try #require(try Self.findings(counted)["create-index"]?.first, "\(counted.transcript)")
        #expect(Self.judged(freshIndex)["rows"] as? Int == 50, "\(counted.transcript)")
        #expect(freshIndex["risk"] as? String == "low", "\(counted.transcript)")
        #expect(
            (freshIndex["message"] as? String)?.contains("counted: never analyzed") == true, "\(counted.transcript)")
    }

    @Test("when the catalog cannot be read, rollout's risk gate judges statically and says so")
    func gateFallsBack() async throws {
        let rig = try await Rig.make()
        defer { rig.cleanUp() }
        let control = try await TestCluster.shared.freshDatabase(prefix: "livelint_ctl")
        try rig.workspace.write(
            "fleets/ghost/fleet.yaml",
            """
            fleet: ghost
            control: "\(postgresURL(control))"
            shards:
              - name: s1
                url: "\(postgresURL(rig.shard))"
            tenants:
              - {id: gone, shard: s1, database: flotilla_no_such_database}

            """)
        try rig.workspace.write(
            "fleets/ghost/changes/0002_safe.yaml",
            """
            change: 0002_safe
            phases:
              - name: widen
                up: ALTER TABLE users ALTER COLUMN email TYPE varchar(256);
                down: SELECT 1;

            """)
        try rig.workspace.write(
            "policies/all.yaml",
            """
            policy: all
            waves:
              - {name: all, select: {remaining: true}}
            risk: {rows_medium: 1000, rows_high: 100000}

            """)
        let child = try await rig.children.run(
            "rollout-ghost", ["rollout", "--fleet", "ghost", "--change", "0002_safe", "--policy", "all", "--yes"],
            limit: .seconds(240))
        #expect(child.exitStatus == 2, "\(child.transcript)")
        #expect(
            child.errors.contains("warning: risk gate: the live schema could not be read"), "\(child.transcript)")
        #expect(child.errors.contains("refusing to roll out 0002_safe"), "\(child.transcript)")
    }
}
