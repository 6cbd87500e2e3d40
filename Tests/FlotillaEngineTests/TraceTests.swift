import FlotillaEngine
import FlotillaLint
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// `lint --trace`: a change traced on a scratch copy of one tenant's schema on the test cluster, its locks read from
/// `pg_locks` and its rewrites from `relfilenode`, merged into the classifier's findings.
struct TraceTests {
    /// A shard with tenant schemas `tenant_t1` and `tenant_t2` (`users` with 5 rows, a domain with a CHECK), and the
    /// database where the scratch copies are made.
    struct Setup {
        let shard: ConnectionURL
        let target: ConnectionURL
        let tenant: Tenant
        /// This test's scratch databases start with it (the tests run in parallel on one cluster).
        let scratchPrefix = "flotilla_trace_\(String(UInt32.random(in: 0...UInt32.max), radix: 36))_"

        init() async throws {
            shard = try await TestCluster.shared.freshDatabase(prefix: "trace")
            target = try await TestCluster.shared.freshDatabase(prefix: "tracetarget")
            tenant = schemaTenant("t1", shard: "a")
            try createSchemaTenants(
                shard, schemas: ["tenant_t1", "tenant_t2"], rows: 5,
                extra: """
                    CREATE DOMAIN tenant_t1.positive_int AS integer CHECK (VALUE > 0);
                    CREATE TABLE tenant_t1.audit (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz,
                        user_id bigint REFERENCES tenant_t1.users (id), twice bigint GENERATED ALWAYS AS (id * 2) STORED);
                    INSERT INTO tenant_t1.audit (at, user_id) VALUES (now(), 1), (now(), 2);
                    """)
        }

        func trace(_ yaml: String, sampleRows: Int = 100) async throws -> (Change, ChangeTrace, [Finding]) {
            let change = try parseChange(yaml)
            var tracer = ChangeTracer(
                tenant: tenant, shard: shard, target: target, sampleRows: sampleRows, logger: engineTestLogger)
            tracer.scratchPrefix = scratchPrefix
            let trace = try await tracer.trace(change)
            return (change, trace, trace.apply(to: ChangeLint.findings(change), of: change))
        }

        /// The scratch databases left on the cluster.
        func scratchDatabases() throws -> [String] {
            lines(
                try psql(
                    target,
                    "SELECT datname FROM pg_database WHERE left(datname, \(scratchPrefix.count)) = '\(scratchPrefix)'"))
        }
    }

    static func change(_ up: String) -> String {
        """
        change: 0001_trace
        phases:
          - name: expand
            up: |
        \(up.split(separator: "\n").map { "      \($0)" }.joined(separator: "\n"))
        """
    }

    @Test(.timeLimit(.minutes(10)))
    func addNullableColumnTakesAccessExclusiveWithoutRewrite() async throws {
        let setup = try await Setup()
        let (_, trace, findings) = try await setup.trace(Self.change("ALTER TABLE users ADD COLUMN c int;"))
        #expect(trace.statements.count == 1)
        let statement = try #require(trace.statements.first)
        #expect(statement.outcome == .traced)
        #expect(statement.tableLocks == [Finding.Traced.Lock(relation: "users", mode: "AccessExclusiveLock")])
        #expect(statement.rewrites.isEmpty)
        let finding = try #require(findings.first)
        #expect(finding.lock == "ACCESS EXCLUSIVE")
        #expect(finding.risk == .low)
        #expect(finding.traced?.rewrites == [])
        #expect(finding.traced?.tenant == "t1")
        #expect(finding.message.contains("[traced on tenant t1: AccessExclusiveLock on users; no rewrite]"))
    }

    @Test(.timeLimit(.minutes(10)))
    func typeChangeRewritesTheTable() async throws {
        let setup = try await Setup()
        let (_, trace, findings) = try await setup.trace(
            Self.change(
                """
                ALTER TABLE users ALTER COLUMN id TYPE integer;
                ALTER TABLE users ADD COLUMN x timestamptz DEFAULT clock_timestamp();
                """))
        #expect(trace.statements.map(\.rewrites) == [["users"], ["users"]])
        let exclusive = Finding.Traced.Lock(relation: "users", mode: "AccessExclusiveLock")
        #expect(trace.statements.allSatisfy { $0.tableLocks.contains(exclusive) })
        // The foreign key of audit on users.id is rebuilt: audit is locked too, which the classifier cannot know.
        #expect(trace.statements[0].tableLocks.map(\.relation) == ["audit", "users"])
        #expect(findings.first?.lock == "ACCESS EXCLUSIVE on audit, ACCESS EXCLUSIVE on users")
        #expect(trace.statements.map(\.rewritesWithRows) == [["users"], ["users"]])
        #expect(findings.count == 2)
        for finding in findings {
            #expect(finding.risk == .high)
            #expect(finding.traced?.rewrites == ["users"])
            #expect(finding.lock.hasPrefix("ACCESS EXCLUSIVE"))
            #expect(finding.message.contains("users rewritten"))
        }
    }

    /// The classifier takes a column of a domain type for a catalog-only change; PostgreSQL checks the domain's
    /// constraint on every row and rewrites the table. The trace wins: high.
    @Test(.timeLimit(.minutes(10)))
    func traceOverridesTheClassifierWhenTheyDisagree() async throws {
        let setup = try await Setup()
        let yaml = Self.change("ALTER TABLE users ADD COLUMN d positive_int;")
        let untraced = try #require(ChangeLint.findings(try parseChange(yaml)).first)
        #expect(untraced.risk == .low)
        let (_, trace, findings) = try await setup.trace(yaml)
        #expect(trace.statements.first?.rewrites == ["users"])
        let finding = try #require(findings.first)
        #expect(finding.rule == untraced.rule)
        #expect(finding.risk == .high)
        #expect(finding.message.contains("users rewritten; risk raised from low to high"))
        #expect(finding.fails(at: .high))
    }

    @Test(.timeLimit(.minutes(10)))
    func createIndexTakesShareLockAndConcurrentlyIsNotTraced() async throws {
        let setup = try await Setup()
        let yaml = """
            change: 0001_index
            phases:
              - name: plain
                up: CREATE INDEX users_email ON users (email);
              - name: online
                transaction: none
                up: CREATE INDEX CONCURRENTLY users_email_lower ON users (lower(email));
            """
        let (_, trace, findings) = try await setup.trace(yaml)
        #expect(trace.statements.count == 2)
        #expect(trace.statements[0].tableLocks == [Finding.Traced.Lock(relation: "users", mode: "ShareLock")])
        #expect(trace.statements[0].rewrites.isEmpty)
        #expect(trace.statements[1].outcome == .outsideTransaction)
        #expect(trace.statements[1].rewrites.isEmpty)
        #expect(findings.count == 2)
        #expect(findings[0].lock == "SHARE")
        #expect(findings[0].traced?.locks.contains(Finding.Traced.Lock(relation: "users", mode: "ShareLock")) == true)
        #expect(findings[1].lock == "SHARE UPDATE EXCLUSIVE")
        #expect(findings[1].traced?.note?.contains("outside a transaction block") == true)
    }

    /// Later statements and phases see what earlier ones did; a statement PostgreSQL rejects is reported as such.
    @Test(.timeLimit(.minutes(10)))
    func phasesBuildOnEachOtherAndFailuresAreReported() async throws {
        let setup = try await Setup()
        let yaml = """
            change: 0001_chain
            phases:
              - name: expand
                up: |
                  CREATE TABLE orgs (id bigint PRIMARY KEY);
                  ALTER TABLE users ADD COLUMN org_id bigint;
              - name: link
                up: |
                  ALTER TABLE users ADD CONSTRAINT users_org FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;
                  ALTER TABLE users ADD COLUMN email text;
            """
        let (_, trace, findings) = try await setup.trace(yaml)
        #expect(trace.statements.map(\.phase) == ["expand", "expand", "link", "link"])
        #expect(
            trace.statements[2].tableLocks == [
                Finding.Traced.Lock(relation: "orgs", mode: "ShareRowExclusiveLock"),
                Finding.Traced.Lock(relation: "users", mode: "ShareRowExclusiveLock"),
            ])
        guard case .failed(let message) = trace.statements[3].outcome else {
            Issue.record("expected a failure, got \(trace.statements[3].outcome)")
            return
        }
        #expect(message.contains("42701"))
        let last = try #require(findings.last)
        #expect(last.traced?.note?.contains("failed on the copy") == true)
    }

    /// The tenant is only read; the scratch database is gone afterwards, also when the trace fails.
    @Test(.timeLimit(.minutes(10)))
    func sourceIsUnchangedAndScratchIsDropped() async throws {
        let setup = try await Setup()
        let columns =
            "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'tenant_t1' AND table_name = 'users'"
        let before = try psql(setup.shard, columns)
        let fileNode = try psql(setup.shard, "SELECT relfilenode FROM pg_class WHERE oid = 'tenant_t1.users'::regclass")
        let (_, trace, _) = try await setup.trace(
            Self.change(
                """
                ALTER TABLE users ALTER COLUMN id TYPE integer;
                ALTER TABLE users ADD COLUMN c int;
                """))
        #expect(trace.statements.count == 2)
        #expect(try psql(setup.shard, columns) == before)
        #expect(
            try psql(setup.shard, "SELECT relfilenode FROM pg_class WHERE oid = 'tenant_t1.users'::regclass")
                == fileNode)
        #expect(try psql(setup.shard, "SELECT count(*) FROM tenant_t1.users") == "5")
        #expect(try setup.scratchDatabases().isEmpty)

        // A tenant whose schema does not exist: the dump fails, and nothing is left behind.
        var missing = ChangeTracer(
            tenant: Tenant(id: "ghost", shard: "a", placement: .schema("tenant_ghost"), location: here),
            shard: setup.shard, target: setup.target, logger: engineTestLogger)
        missing.scratchPrefix = setup.scratchPrefix
        await #expect(throws: TraceError.self) {
            _ = try await missing.trace(try parseChange(Self.change("ALTER TABLE users ADD COLUMN c int;")))
        }
        #expect(try setup.scratchDatabases().isEmpty)
    }

    /// Sample rows are copied (generated and identity columns included), so a rewrite is of a table with rows.
    @Test(.timeLimit(.minutes(10)))
    func sampleRowsAreCopied() async throws {
        let setup = try await Setup()
        let (_, trace, _) = try await setup.trace(
            Self.change("ALTER TABLE audit ADD COLUMN n int DEFAULT random()::int;"), sampleRows: 1)
        #expect(trace.notes.isEmpty, "\(trace.notes)")
        #expect(trace.statements.first?.rewritesWithRows == ["audit"])
        let (_, empty, findings) = try await setup.trace(
            Self.change("ALTER TABLE audit ADD COLUMN n int DEFAULT random()::int;"), sampleRows: 0)
        #expect(empty.statements.first?.rewrites == ["audit"])
        #expect(empty.statements.first?.rewritesWithRows == [])
        #expect(findings.first?.message.contains("audit rewritten") == true)
    }

    /// The traced facts appear in the JSON output as an extra key; untraced findings keep their shape.
    @Test func tracedFindingsRenderAsJSON() throws {
        var finding = Finding(
            file: "changes/x.yaml", line: 4, column: 9, rule: "add-column", risk: .low, strategy: "direct deployment",
            lock: "ACCESS EXCLUSIVE", message: "m", phase: "expand", statement: "ALTER TABLE users ADD COLUMN c int")
        let plain = LintRenderer.render([finding], format: .json)
        #expect(!plain.contains("traced"))
        finding.traced = Finding.Traced(
            tenant: "t1", locks: [Finding.Traced.Lock(relation: "users", mode: "AccessExclusiveLock")], rewrites: [])
        let json = LintRenderer.render([finding], format: .json)
        #expect(json.contains("\"traced\""))
        #expect(json.contains("\"mode\" : \"AccessExclusiveLock\""))
        #expect(LintRenderer.render([finding], format: .sarif).contains("\"traced\""))
    }
}

/// The real `flotilla lint --trace`: bad input exits 2 before any database is touched; a trace runs in the
/// embedded PostgreSQL of the workspace and shows in the findings.
struct TraceCommandLineTests {
    func run(_ binary: URL, in folder: URL, _ arguments: [String]) async throws -> ProcessResult {
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("PG") && $0.key != "FLOTILLA_CONTROL_URL"
        }
        environment["FLOTILLA_HOME"] = folder.appendingPathComponent(".flotilla").path
        environment["FLOTILLA_LOG_LEVEL"] = "error"
        return try await ProcessRunner.run(binary, arguments, environment: environment, currentDirectory: folder)
    }

    @Test(.timeLimit(.minutes(10)))
    func lintTraceOnTheCommandLine() async throws {
        let binary = try CommandLineResumeTests.flotillaBinary()
        let shard = try await TestCluster.shared.freshDatabase(prefix: "tracecli")
        try createSchemaTenants(shard, schemas: ["tenant_c1", "tenant_c2"], rows: 3)
        let folder = try makeScratchDirectory(prefix: "flotilla-trace")
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = [
            "fleets/f/fleet.yaml": """
            fleet: f
            shards:
              - name: a
                url: \(postgresURL(shard))
            tenants:
              - {id: c1, shard: a, schema: tenant_c1}
              - {id: c2, shard: a, schema: tenant_c2}
            """,
            "fleets/f/changes/0001_x.yaml": """
            change: 0001_x
            phases:
              - name: expand
                up: ALTER TABLE users ALTER COLUMN id TYPE integer;
            """,
        ]
        for (path, text) in files {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }

        for (arguments, expected) in [
            (["--fleet", "f", "--tenant", "nobody", "0001_x"], "fleet f has no tenant 'nobody'"),
            (["--fleet", "nofleet", "0001_x"], "no fleet 'nofleet'"),
            (["--fleet", "f", "0009_missing"], "no change '0009_missing'"),
        ] {
            let result = try await run(binary, in: folder, ["lint", "--trace"] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.combinedOutput)")
            #expect(result.standardError.contains(expected), "\(result.standardError)")
        }
        // Nothing was started for bad input.
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent(".flotilla").path))

        let traced = try await run(
            binary, in: folder, ["lint", "--trace", "--fleet", "f", "--tenant", "c2", "--format", "json", "0001_x"])
        let stopped = try await run(binary, in: folder, ["down"])
        #expect(stopped.status == 0, "\(stopped.combinedOutput)")
        #expect(traced.status == 1, "\(traced.combinedOutput)")
        #expect(traced.standardError.contains("traced 0001_x on a copy of tenant c2"))
        #expect(traced.standardOutput.contains("\"traced\""))
        #expect(traced.standardOutput.contains("\"tenant\" : \"c2\""))
        #expect(traced.standardOutput.contains("users rewritten"))
        #expect(!traced.combinedOutput.contains(shard.password ?? "no password"))
    }
}
