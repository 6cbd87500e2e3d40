import FlotillaEngine
import FlotillaModel
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `Census` and `flotilla census` on real PostgreSQL: ledgers written by real rollouts, then perturbed with psql
/// (a checksum edited, a phase reverted, a change the fleet does not define, a schema without a ledger, a schema
/// that does not exist, a shard on a closed port), and the exact counts read back.
@Suite(.serialized)
struct CensusTests {
    static let first = """
        change: 0001_first
        phases:
          - name: one
            up: CREATE TABLE census_one (id int);
            down: DROP TABLE census_one;
        """

    static let second = """
        change: 0002_second
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN census_flag boolean;
            down: ALTER TABLE users DROP COLUMN census_flag;
          - name: contract
            up: CREATE TABLE census_two (id int);
            down: DROP TABLE census_two;
        """

    static let policy = """
        policy: all
        waves:
          - {name: all, select: {remaining: true}}
        parallel: 4
        """

    /// The fleet of the tests, once its ledgers are built and perturbed.
    struct Setup {
        var shardA: ConnectionURL
        var shardB: ConnectionURL
        var closed: ConnectionURL
        var fleet: Fleet
        var changes: [Change]
    }

    /// t01…t06 on shard a, t07…t12 on b, u1 and u2 on shard c (a closed port).
    ///
    /// - t01…t10 get 0001 by a rollout; t01…t08 get 0002 (both phases) by a second one;
    /// - t02's ledger checksum of 0001/one is edited (drift); t03's ledger gains a live row of `0099_gone`;
    /// - t04's 0002/contract is marked reverted; t11's schema has no ledger; t12's schema does not exist.
    static func setUp() async throws -> Setup {
        let shardA = try await TestCluster.shared.freshDatabase(prefix: "census_a")
        let shardB = try await TestCluster.shared.freshDatabase(prefix: "census_b")
        var closed = shardA
        closed.port = 1
        let onA = (1...6).map { schemaTenant(String(format: "t%02d", $0), shard: "a") }
        let onB = (7...12).map { schemaTenant(String(format: "t%02d", $0), shard: "b") }
        let onC = ["u1", "u2"].map { schemaTenant($0, shard: "c") }
        try createSchemaTenants(shardA, schemas: onA.map(\.placement.name), rows: 2)
        try createSchemaTenants(shardB, schemas: onB.dropLast().map(\.placement.name), rows: 2)
        let shards = [("a", shardA), ("b", shardB), ("c", closed)]
        let all = onA + onB + onC
        let fleet = makeFleet(name: "census-fleet", shards: shards, tenants: all)
        let first = try parseChange(Self.first)
        let second = try parseChange(Self.second)
        let policy = try parsePolicy(Self.policy)

        let reachable = [("a", shardA), ("b", shardB)]
        let firstRig = try await Rig(
            fleet: makeFleet(name: "census-fleet", shards: reachable, tenants: Array(all.prefix(10))))
        #expect(try await firstRig.rollout(first, policy).exitCode == 0)
        let secondRig = try await Rig(
            fleet: makeFleet(name: "census-fleet", shards: reachable, tenants: Array(all.prefix(8))))
        #expect(try await secondRig.rollout(second, policy).exitCode == 0)

        _ = try psql(
            shardA,
            """
            UPDATE tenant_t02.flotilla_history SET checksum = 'edited' WHERE change = '0001_first';
            INSERT INTO tenant_t03.flotilla_history (change, phase, checksum) VALUES ('0099_gone', 'only', 'x');
            UPDATE tenant_t04.flotilla_history SET reverted_at = now() WHERE change = '0002_second' AND phase = 'contract';
            DROP TABLE tenant_t04.census_two;
            """)
        // What PostgreSQL holds now, before the census reads it.
        #expect(
            try psql(shardA, "SELECT checksum FROM tenant_t02.flotilla_history WHERE change = '0001_first'") == "edited"
        )
        #expect(try psql(shardB, "SELECT count(*) FROM tenant_t10.flotilla_history") == "1")
        #expect(try psql(shardB, "SELECT to_regclass('tenant_t11.flotilla_history') IS NULL") == "t")
        #expect(try psql(shardB, "SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_t12'") == "0")
        return Setup(shardA: shardA, shardB: shardB, closed: closed, fleet: fleet, changes: [first, second])
    }

    static func census(_ setup: Setup) async throws -> CensusReport {
        let connections = try FleetConnections(
            fleet: setup.fleet, embedded: nil, environment: [:], deadlines: testDeadlines, logger: engineTestLogger)
        return try await connections.run {
            await Census(connections: connections, logger: engineTestLogger).run(changes: setup.changes)
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func countsEveryKindOfTenantExactly() async throws {
        let setup = try await Self.setUp()
        let report = try await Self.census(setup)

        func count(_ change: String, _ phase: String) -> [Int] {
            guard let count = report.counts.first(where: { $0.phase == PhaseRef(change: change, phase: phase) })
            else { return [] }
            return [count.applied, count.reverted, count.notYet, count.unknown]
        }
        #expect(report.phases.map(\.description) == ["0001_first/one", "0002_second/expand", "0002_second/contract"])
        #expect(count("0001_first", "one") == [10, 0, 2, 2])
        #expect(count("0002_second", "expand") == [8, 0, 4, 2])
        #expect(count("0002_second", "contract") == [7, 1, 4, 2])

        #expect(report.tenants(.current).map(\.tenant.id) == ["t01", "t03", "t05", "t06", "t07", "t08"])
        #expect(report.tenants(.behind).map(\.tenant.id) == ["t04", "t09", "t10", "t11", "t12"])
        #expect(report.tenants(.drifted).map(\.tenant.id) == ["t02"])
        #expect(report.tenants(.unreachable).map(\.tenant.id) == ["u1", "u2"])
        #expect(!report.isUniform)

        let behind = report.behindByShard.map { "\($0.shard):" + $0.tenants.map(\.tenant.id).joined(separator: ",") }
        #expect(behind == ["a:t04", "b:t09,t10,t11,t12"])
        #expect(report.standing(of: "t04")?.missing.map(\.description) == ["0002_second/contract"])
        #expect(
            report.standing(of: "t09")?.missing.map(\.description) == ["0002_second/expand", "0002_second/contract"])
        #expect(report.standing(of: "t11")?.missing.count == 3)

        let drift = try #require(report.standing(of: "t02")?.drift.first)
        #expect(drift.phase == PhaseRef(change: "0001_first", phase: "one"))
        #expect(drift.ledgerChecksum == "edited")
        #expect(drift.definitionChecksum == setup.changes[0].phases[0].checksum)

        #expect(report.withUnknownChanges.map(\.tenant.id) == ["t03"])
        #expect(report.standing(of: "t03")?.unknownChanges == ["0099_gone"])
        #expect(report.withoutLedger.map(\.tenant.id) == ["t11", "t12"])
        #expect(report.standing(of: "t11")?.reading == .noLedger(placementExists: true))
        #expect(report.standing(of: "t12")?.reading == .noLedger(placementExists: false))

        let unreachable = try #require(report.unreachableShards.first)
        #expect(report.unreachableShards.count == 1)
        #expect(unreachable.tenants == 2)
        #expect(unreachable.problem.shard == "c")
        #expect(unreachable.problem.endpoint == setup.closed.endpoint)
        #expect(unreachable.problem.error.contains("connection refused"))

        let histogram = report.latestHistogram.map { "\($0.latest?.description ?? "none")=\($0.tenants)" }
        #expect(histogram == ["none=2", "0001_first/one=2", "0002_second/expand=1", "0002_second/contract=7"])

        #expect(report.tenantsLacking(setup.changes[1]).map(\.tenant.id) == ["t04", "t09", "t10", "t11", "t12"])
        #expect(report.tenantsLacking(setup.changes[0]).map(\.tenant.id) == ["t11", "t12"])
        // Only read: the census wrote nothing.
        #expect(try psql(setup.shardB, "SELECT to_regclass('tenant_t11.flotilla_history') IS NULL") == "t")
    }

    /// The report alone (no database): a fleet where no tenant has a ledger yet is uniform; one tenant ahead makes
    /// every other one behind; a drifted tenant that also lacks a phase counts as drifted, and is listed behind too.
    @Test func reportFromReadingsAlone() throws {
        let change = try parseChange(Self.second)
        let tenants = ["x1", "x2", "x3"].map { schemaTenant($0, shard: "a") }
        let fleet = makeFleet(name: "pure", shards: [], tenants: tenants)
        let fresh = CensusReport.make(
            fleet: fleet, tenants: tenants, changes: [change], defined: [],
            readings: ["x1": .noLedger(placementExists: true), "x2": .rows([]), "x3": .noLedger(placementExists: true)])
        #expect(fresh.isUniform)
        #expect(fresh.latestHistogram.map(\.tenants) == [3])

        let expand = change.phases[0].checksum
        let report = CensusReport.make(
            fleet: fleet, tenants: tenants, changes: [change], defined: [],
            readings: [
                "x1": .rows([
                    LedgerRow(change: change.id, phase: "expand", checksum: expand, reverted: false),
                    LedgerRow(
                        change: change.id, phase: "contract", checksum: change.phases[1].checksum, reverted: false),
                ]),
                "x2": .rows([LedgerRow(change: change.id, phase: "expand", checksum: "other", reverted: false)]),
            ])
        #expect(!report.isUniform)
        #expect(report.tenants.map(\.condition) == [.current, .drifted, .unreachable])
        #expect(report.standing(of: "x2")?.missing.map(\.description) == ["0002_second/contract"])
        #expect(report.behindByShard.map { $0.tenants.map(\.tenant.id) } == [["x2"]])
        #expect(report.counts.map(\.unknown) == [1, 1])
        #expect(report.unreachableShards.map(\.tenants) == [1])
    }

    @Test(.timeLimit(.minutes(10)))
    func databasePerTenantLedgersAreReadOneDatabaseAtATime() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "census_db")
        let withLedger = try await TestCluster.shared.freshDatabase(prefix: "census_d1")
        let empty = try await TestCluster.shared.freshDatabase(prefix: "census_d2")
        let change = try parseChange(Self.first)
        let checksum = change.phases[0].checksum
        _ = try psql(
            withLedger,
            """
            CREATE TABLE public.flotilla_history (id bigserial PRIMARY KEY, change text NOT NULL, phase text NOT NULL,
                checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer,
                rollout_id text, reverted_at timestamptz, ledger_version integer NOT NULL DEFAULT 1);
            INSERT INTO public.flotilla_history (change, phase, checksum) VALUES ('0001_first', 'one', '\(checksum)');
            """)
        let tenants = [
            Tenant(id: "d1", shard: "a", placement: .database(withLedger.database), location: here),
            Tenant(id: "d2", shard: "a", placement: .database(empty.database), location: here),
            Tenant(id: "d3", shard: "a", placement: .database(uniqueName("census_missing")), location: here),
            Tenant(id: "d4", shard: "c", placement: .database(empty.database), location: here),
        ]
        var closed = shard
        closed.port = 1
        let fleet = makeFleet(name: "census-db", shards: [("a", shard), ("c", closed)], tenants: tenants)
        let connections = try FleetConnections(
            fleet: fleet, embedded: nil, environment: [:], deadlines: testDeadlines, logger: engineTestLogger)
        let report = try await connections.run {
            await Census(connections: connections, logger: engineTestLogger).run(changes: [change])
        }
        #expect(report.counts.map { [$0.applied, $0.reverted, $0.notYet, $0.unknown] } == [[1, 0, 2, 1]])
        #expect(report.tenants(.unreachable).map(\.tenant.id) == ["d4"])
        #expect(report.unreachableShards.map(\.problem.shard) == ["c"])
        #expect(report.tenants(.current).map(\.tenant.id) == ["d1"])
        #expect(report.tenants(.behind).map(\.tenant.id) == ["d2", "d3"])
        #expect(report.standing(of: "d2")?.reading == .noLedger(placementExists: true))
        #expect(report.standing(of: "d3")?.reading == .noLedger(placementExists: false))
        #expect(try psql(withLedger, "SELECT count(*) FROM public.flotilla_history") == "1")
    }

    /// A tenant deleted while the census reads: its ledger is locked by a session that drops its schema a moment
    /// later, so the census found the ledger in the catalog but cannot read it. The tenant comes out without a schema;
    /// the shard's other tenants are read.
    @Test(.timeLimit(.minutes(10)))
    func aTenantDroppedWhileTheCensusReadsIsReportedMissing() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "census_drop")
        let tenants = ["g1", "g2", "g3"].map { schemaTenant($0, shard: "a") }
        try createSchemaTenants(shard, schemas: tenants.map(\.placement.name), rows: 1)
        let fleet = makeFleet(name: "census-drop", shards: [("a", shard)], tenants: tenants)
        let change = try parseChange(Self.first)
        let rig = try await Rig(fleet: fleet)
        #expect(try await rig.rollout(change, try parsePolicy(Self.policy)).exitCode == 0)

        let dropper = Process()
        dropper.executableURL = try PostgresBinaries.locate().path(for: .psql)
        dropper.arguments = [
            "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
            "BEGIN; LOCK TABLE tenant_g2.flotilla_history IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); DROP SCHEMA tenant_g2 CASCADE; COMMIT;",
        ]
        dropper.environment = shard.libpqEnvironment()
        dropper.standardOutput = FileHandle.nullDevice
        dropper.standardError = FileHandle.nullDevice
        try dropper.run()
        defer { if dropper.isRunning { kill(dropper.processIdentifier, SIGKILL) } }
        let locked = try await eventually(within: .seconds(30), every: .milliseconds(20)) {
            try psql(
                shard,
                "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = to_regclass('tenant_g2.flotilla_history')"
            ) == "1"
        }
        #expect(locked)

        let connections = try FleetConnections(
            fleet: fleet, embedded: nil, environment: [:], deadlines: testDeadlines, logger: engineTestLogger)
        let report = try await connections.run {
            await Census(connections: connections, logger: engineTestLogger).run(changes: [change])
        }
        #expect(report.standing(of: "g2")?.reading == .noLedger(placementExists: false))
        #expect(report.tenants(.current).map(\.tenant.id) == ["g1", "g3"])
        #expect(try psql(shard, "SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_g2'") == "0")
    }

    @Test(.timeLimit(.minutes(10)))
    func commandLineExitsThreeWithTheJSONAndZeroWhenUniform() async throws {
        let setup = try await Self.setUp()
        let workspace = try ChildProcessFixtures.Workspace(prefix: "flotilla-census")
        defer { workspace.remove() }
        func fleetYAML(_ name: String, _ tenants: [Tenant]) -> String {
            var text = "fleet: \(name)\nshards:\n"
            for (shard, url) in [("a", setup.shardA), ("b", setup.shardB), ("c", setup.closed)] {
                text += "  - name: \(shard)\n    url: \"\(postgresURL(url))\"\n"
            }
            text += "tenants:\n"
            for tenant in tenants {
                text += "  - {id: \(tenant.id), shard: \(tenant.shard), schema: \(tenant.placement.name)}\n"
            }
            return text
        }
        try workspace.write("fleets/census-fleet/fleet.yaml", fleetYAML("census-fleet", setup.fleet.tenants))
        let uniform = setup.fleet.tenants.filter { ["t01", "t05", "t07"].contains($0.id) }
        try workspace.write("fleets/census-uniform/fleet.yaml", fleetYAML("census-uniform", uniform))
        for name in ["census-fleet", "census-uniform"] {
            try workspace.write("fleets/\(name)/changes/0001_first.yaml", Self.first)
            try workspace.write("fleets/\(name)/changes/0002_second.yaml", Self.second)
        }
        let children = try ChildProcessFixtures.Children(workspace: workspace)
        defer { children.killRemaining() }

        let json = try await children.run("json", ["census", "--fleet", "census-fleet", "--format", "json"])
        #expect(json.exitStatus == 3, "\(json.transcript)")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.transcript)")
        #expect(document["uniform"] as? Bool == false)
        #expect(document["tenants"] as? Int == 14)
        let summary = try #require(document["summary"] as? [String: Int])
        #expect(
            summary == [
                "current": 6, "behind": 5, "drifted": 1, "unreachable": 2, "no_ledger": 2, "unknown_change": 1,
            ])
        let phases = try #require(document["phases"] as? [[String: Any]])
        #expect(
            phases.map {
                "\($0["change"] ?? "")/\($0["phase"] ?? "") \($0["applied"] ?? "") \($0["reverted"] ?? "") \($0["not_yet"] ?? "") \($0["unknown"] ?? "")"
            }
                == [
                    "0001_first/one 10 0 2 2", "0002_second/expand 8 0 4 2", "0002_second/contract 7 1 4 2",
                ])
        let behind = try #require(document["behind"] as? [[String: Any]])
        #expect(behind.map { $0["shard"] as? String } == ["a", "b"])
        let drifted = try #require(document["drifted"] as? [[String: Any]])
        #expect(drifted.map { $0["id"] as? String } == ["t02"])
        let unreachable = try #require(document["unreachable"] as? [[String: Any]])
        #expect(unreachable.first?["tenants"] as? [String] == ["u1", "u2"])
        #expect(unreachable.first?["endpoint"] as? String == setup.closed.endpoint)
        let latest = try #require(document["latest"] as? [[String: Any]])
        #expect(latest.first?["change"] is NSNull)
        #expect(!json.output.contains(setup.shardA.password ?? "\u{0}"))

        let text = try await children.run("text", ["census", "--fleet", "census-fleet"])
        #expect(text.exitStatus == 3, "\(text.transcript)")
        #expect(text.output.contains("5 tenants behind — flotilla converge --fleet census-fleet"), "\(text.transcript)")
        #expect(text.output.contains("t02: 0001_first/one ledger edited"), "\(text.transcript)")
        #expect(text.output.contains("shard c (\(setup.closed.endpoint))"), "\(text.transcript)")

        let one = try await children.run(
            "one", ["census", "--fleet", "census-uniform", "--change", "0001", "--format", "json"])
        #expect(one.exitStatus == 0, "\(one.transcript)")
        let clean = try await children.run("clean", ["census", "--fleet", "census-uniform"])
        #expect(clean.exitStatus == 0, "\(clean.transcript)")
        #expect(clean.output.contains("the fleet is uniform"), "\(clean.transcript)")

        // Tenants from a registry table are counted too: t01 (current), t09 (behind) and a tenant created since
        // (a schema without a ledger: behind).
        _ = try psql(
            setup.shardA,
            """
            CREATE SCHEMA tenant_n1;
            CREATE TABLE public.census_registry (id text, shard text, schema text);
            INSERT INTO public.census_registry VALUES ('t01', 'a', 'tenant_t01'), ('t09', 'b', 'tenant_t09'),
                ('n1', 'a', 'tenant_n1');
            """)
        try workspace.write(
            "fleets/census-registry/fleet.yaml",
            """
            fleet: census-registry
            shards:
              - name: a
                url: "\(postgresURL(setup.shardA))"
              - name: b
                url: "\(postgresURL(setup.shardB))"
            tenants:
              - from: {shard: a, query: "SELECT id, shard, schema FROM public.census_registry"}

            """)
        try workspace.write("fleets/census-registry/changes/0001_first.yaml", Self.first)
        try workspace.write("fleets/census-registry/changes/0002_second.yaml", Self.second)
        let registry = try await children.run("registry", ["census", "--fleet", "census-registry", "--format", "json"])
        #expect(registry.exitStatus == 3, "\(registry.transcript)")
        let registered = try #require(
            try JSONSerialization.jsonObject(with: Data(registry.output.utf8)) as? [String: Any],
            "\(registry.transcript)")
        #expect(registered["tenants"] as? Int == 3)
        #expect((registered["summary"] as? [String: Int])?["behind"] == 2)
        let lagging = (registered["behind"] as? [[String: Any]] ?? []).flatMap {
            ($0["tenants"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        #expect(lagging.sorted() == ["n1", "t09"])

        let bad = try await children.run("bad", ["census", "--fleet", "census-fleet", "--change", "0003"])
        #expect(bad.exitStatus == 2, "\(bad.transcript)")
        #expect(bad.errors.contains("no change '0003'"), "\(bad.transcript)")
    }
}
