import FlotillaEngine
import FlotillaModel
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Logging
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL server of one test's own, which the test restarts and stops (the shared test cluster must stay up).
final class FaultServer: Sendable {
    let server: EmbeddedPostgres
    let directory: URL

    static func start(_ name: String) async throws -> FaultServer {
        let directory = try makeScratchDirectory(prefix: "flotilla-fault-\(name)")
        var logger = Logger(label: "flotilla.fault-server")
        logger.logLevel = .critical
        let server = EmbeddedPostgres(directory: directory, durable: false, maxConnections: 100, logger: logger)
        _ = try await server.start()
        return FaultServer(server: server, directory: directory)
    }

    private init(server: EmbeddedPostgres, directory: URL) {
        self.server = server
        self.directory = directory
    }

    func database(_ name: String) async throws -> ConnectionURL {
        let url = try await server.start()
        try await server.createDatabase(name)
        return url.with(database: name)
    }

    /// What a failover or a minor-version upgrade does to the sessions: `pg_ctl stop -m fast`, then start again on
    /// the same port.
    func restart() async throws {
        try await server.stop()
        _ = try await server.start()
    }

    func stop() async throws { try await server.stop() }

    func destroy() {
        EmbeddedPostgres.stopImmediately(directory: directory)
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Faults a production fleet meets: a shard server restarted or stopped mid-wave, a control store that refuses
/// connections, a coordinator killed during a backfill whose `set` is not idempotent. Each test reads what PostgreSQL
/// holds afterwards. Serialized: they start servers of their own and time what they wait for.
@Suite(.serialized)
struct FaultTests {
    static let policy = """
        policy: faults
        waves:
          - {name: all, select: {remaining: true}}
        parallel: 4
        per_shard_parallel: 4
        lock_timeout: 5s
        retries: {attempts: 3, backoff: 100ms}
        on_failure: halt
        """

    /// `pg_ctl stop -m fast` + start of the shard's server while a wave runs, 20 times: every rollout ends done,
    /// every tenant has the phase exactly once (its ledger and its column), the in-flight tenants were retried.
    @Test(.timeLimit(.minutes(15)))
    func shardRestartMidWaveCostsOnlyARetry() async throws {
        let server = try await FaultServer.start("restart")
        defer { server.destroy() }
        let shard = try await server.database("shard")
        let ids = (1...8).map { String(format: "r%02d", $0) }
        try createSchemaTenants(shard, schemas: ids.map { "tenant_\($0)" }, rows: 2)
        let fleet = makeFleet(
            name: "restart-fleet", shards: [("s1", shard)], tenants: ids.map { schemaTenant($0, shard: "s1") })
        // A restart on a machine busy with the whole test suite may take several seconds: the window covers it.
        let policy = try parsePolicy(Self.policy + "\nconnect_timeout: 30s\n")
        let rig = try await Rig(fleet: fleet)
        var retried = 0
        for run in 1...20 {
            let change = try parseChange(
                """
                change: c\(run)
                phases:
                  - name: expand
                    up: |
                      SELECT pg_sleep(0.3);
                      ALTER TABLE users ADD COLUMN c\(run) integer;
                    down: ALTER TABLE users DROP COLUMN c\(run);
                """)
            let rollout = Task { try await rig.rollout(change, policy) }
            // The first run starts with the whole suite: its first tenant may take a while on two cores.
            let started = try await eventually(within: .seconds(120), every: .milliseconds(20)) {
                // Before the control schema exists, the query fails: not yet.
                let applied = try? rig.journal(
                    "SELECT count(*) FROM flotilla.steps s JOIN flotilla.rollouts r ON r.id = s.rollout_id WHERE r.change = 'c\(run)' AND s.state = 'applied'"
                )
                return (Int(applied ?? "") ?? 0) >= 1
            }
            try #require(started, "run \(run): no tenant was applied")
            try await server.restart()
            let outcome = try await rollout.value
            guard case .done = outcome else {
                Issue.record("run \(run): the rollout ended \(outcome), not done")
                break
            }
            let columns = try psql(
                shard,
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'c\(run)'"
            )
            #expect(columns == "8", "run \(run): \(columns) of 8 tenants have the column")
            for id in ids {
                let live = try TenantProbe(shard: shard, schema: "tenant_\(id)").liveLedger(change: "c\(run)")
                #expect(live.count == 1, "run \(run), tenant \(id): \(live.count) live ledger rows")
            }
            #expect(
                try rig.journal(
                    "SELECT count(*) FROM flotilla.steps s JOIN flotilla.rollouts r ON r.id = s.rollout_id WHERE r.change = 'c\(run)' AND s.state = 'applied'"
                ) == "8")
            retried +=
                Int(
                    try rig.journal(
                        "SELECT count(*) FROM flotilla.events e JOIN flotilla.rollouts r ON r.id = e.rollout_id WHERE r.change = 'c\(run)' AND e.kind = 'retry'"
                    )) ?? 0
        }
        #expect(retried > 0, "no step was in flight when its server restarted: the test did not test a restart")
    }

    /// The shard's server stops mid-wave and stays down: the rollout ends (halted, per `on_failure: halt`) within
    /// seconds; each failed step says "connection refused" and names the shard and the server; no tenant is left
    /// between before and after the phase.
    @Test(.timeLimit(.minutes(10)))
    func stoppedShardEndsTheRolloutWithinSeconds() async throws {
        let server = try await FaultServer.start("stop")
        defer { server.destroy() }
        let shard = try await server.database("shard")
        let ids = (1...12).map { String(format: "s%02d", $0) }
        try createSchemaTenants(shard, schemas: ids.map { "tenant_\($0)" }, rows: 2)
        let fleet = makeFleet(
            name: "stop-fleet", shards: [("s1", shard)], tenants: ids.map { schemaTenant($0, shard: "s1") })
        let policy = try parsePolicy(Self.policy.replacingOccurrences(of: "parallel: 4", with: "parallel: 2"))
        let change = try parseChange(
            """
            change: c1
            phases:
              - name: expand
                up: |
                  SELECT pg_sleep(0.3);
                  ALTER TABLE users ADD COLUMN marker integer;
                down: ALTER TABLE users DROP COLUMN marker;
            """)
        let rig = try await Rig(fleet: fleet)
        let rollout = Task { try await rig.rollout(change, policy) }
        let started = try await eventually(within: .seconds(60), every: .milliseconds(20)) {
            (Int((try? rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'applied'")) ?? "") ?? 0) >= 2
        }
        try #require(started)
        try await server.stop()
        let stopped = ContinuousClock.now
        let outcome = try await rollout.value
        let took = ContinuousClock.now - stopped
        guard case .halted = outcome else {
            Issue.record("the rollout ended \(outcome), not halted")
            return
        }
        #expect(took < .seconds(15), "the rollout took \(took) to end after its shard stopped")
        let failed = lines(try rig.journal("SELECT error FROM flotilla.steps WHERE state = 'failed'"))
        #expect(!failed.isEmpty)
        for error in failed {
            #expect(error.contains("connection refused"), "\(error)")
            #expect(error.contains("shard s1"), "\(error)")
            #expect(error.contains("127.0.0.1:\(shard.port)"), "\(error)")
        }
        #expect(try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state = 'running'") == "0")
        // Back up: every tenant is before or after the phase, never between.
        _ = try await server.database("shard")
        for id in ids {
            let probe = TenantProbe(shard: shard, schema: "tenant_\(id)")
            let hasColumn = try probe.columnType("marker") != nil
            let live = try probe.liveLedger(change: "c1").count
            #expect(live == (hasColumn ? 1 : 0), "tenant \(id): column \(hasColumn), \(live) ledger rows")
            let state = try rig.journal("SELECT state FROM flotilla.steps WHERE tenant = '\(id)'")
            #expect((state == "applied") == hasColumn, "tenant \(id): step \(state), column \(hasColumn)")
        }
    }

    /// Every command that needs the control store says within seconds that it is unreachable, naming it, and exits 1.
    @Test(.timeLimit(.minutes(10)))
    func refusedControlStoreIsReportedWithinSeconds() async throws {
        let binary = try CommandLineResumeTests.flotillaBinary()
        let port = try Self.closedPort()
        let control = "postgres://flotilla@127.0.0.1:\(port)/journal?sslmode=disable"
        let shard = try await TestCluster.shared.freshDatabase(prefix: "refused_shard")
        try createSchemaTenants(shard, schemas: ["tenant_a1"], rows: 1)
        let folder = try makeScratchDirectory(prefix: "flotilla-refused")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.write(
            [
                "fleets/refused/fleet.yaml": """
                fleet: refused
                control: \(control)
                shards:
                  - {name: s1, url: "\(postgresURL(shard))"}
                tenants:
                  - {id: a1, shard: s1, schema: tenant_a1}
                """,
                "fleets/refused/changes/0001_a.yaml": """
                change: 0001_a
                phases:
                  - name: expand
                    up: ALTER TABLE users ADD COLUMN a integer;
                    down: ALTER TABLE users DROP COLUMN a;
                """,
                "policies/p.yaml": Self.policy,
            ], in: folder)
        let commands: [[String]] = [
            ["halt", "--control", control, "--all", "--reason", "drill"],
            ["status", "--control", control],
            ["resume", "--control", control, "--all"],
            ["rollout", "--fleet", "refused", "--change", "0001_a", "--policy", "p", "--yes"],
            ["worker", "--fleet", "refused", "--once"],
        ]
        for arguments in commands {
            let started = ContinuousClock.now
            let child = try CommandLineResumeTests.start(binary, in: folder, arguments: arguments, log: "out.log")
            let status = try await CommandLineResumeTests.wait(child, limit: .seconds(60))
            let took = ContinuousClock.now - started
            let output = (try? String(contentsOf: child.output, encoding: .utf8)) ?? ""
            #expect(status == 1, "\(arguments[0]): exit \(String(describing: status)): \(output)")
            #expect(took < .seconds(5), "\(arguments[0]) took \(took): \(output)")
            #expect(
                output.contains("control store 127.0.0.1:\(port)/journal unreachable: connection refused"),
                "\(arguments[0]): \(output)")
            if arguments[0] == "halt" {
                #expect(output.contains("the halt was NOT recorded"), "\(output)")
                #expect(output.contains("Ctrl-C or SIGTERM"), "\(output)")
            }
        }
        // Nothing reached the shard: no ledger was created there.
        #expect(try psql(shard, "SELECT to_regclass('tenant_a1.flotilla_history') IS NULL") == "t")
    }

    /// `flotilla rollout` SIGKILLed again and again while it runs a backfill whose `set` is `n = n + 1`: every row
    /// ends exactly +1 (each batch and its checkpoint commit together in the tenant), and each rerun takes over the
    /// dead coordinator's lease and claims at once (it makes progress within its short life).
    @Test(.timeLimit(.minutes(15)))
    func killedBackfillNeverWritesARowTwice() async throws {
        let binary = try CommandLineResumeTests.flotillaBinary()
        let shard = try await TestCluster.shared.freshDatabase(prefix: "kill_backfill")
        let control = try await TestCluster.shared.freshDatabase(prefix: "kill_backfill_ctl")
        let ids = (1...4).map { String(format: "b%02d", $0) }
        try createSchemaTenants(
            shard, schemas: ids.map { "tenant_\($0)" }, rows: 40000,
            extra: ids.map { "ALTER TABLE tenant_\($0).users ADD COLUMN n integer NOT NULL DEFAULT 0;" }.joined())
        let folder = try makeScratchDirectory(prefix: "flotilla-kill-backfill")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.write(
            [
                "fleets/plus/fleet.yaml": """
                fleet: plus
                control: \(postgresURL(control))
                shards:
                  - {name: s1, url: "\(postgresURL(shard))"}
                tenants:
                  - generate: {count: 4, id: "b{n:02}", shard: s1, schema: "tenant_{id}"}
                """,
                "fleets/plus/changes/0001_plus.yaml": """
                change: 0001_plus
                phases:
                  - name: plus
                    backfill: {table: users, set: "n = n + 1", key: id, batch_size: 50, pause: 15ms}
                """,
                "policies/p.yaml": Self.policy.replacingOccurrences(of: "parallel: 4", with: "parallel: 2"),
            ], in: folder)
        let arguments = ["rollout", "--fleet", "plus", "--change", "0001_plus", "--policy", "p", "--yes"]
        func progress() throws -> Int {
            var total = 0
            for id in ids {
                let table = "tenant_\(id).flotilla_backfill"
                if try psql(shard, "SELECT to_regclass('\(table)') IS NULL") == "t" { continue }
                total += Int(try psql(shard, "SELECT coalesce(sum(rows), 0) FROM \(table)")) ?? 0
            }
            return total
        }
        var kills = 0
        var finished = false
        while kills < 20 {
            let before = try progress()
            let child = try CommandLineResumeTests.start(binary, in: folder, arguments: arguments, log: "run.log")
            // Killed once this run has written a batch of its own, then at a random point up to 0.4 s later.
            let advanced = try await eventually(within: .seconds(30), every: .milliseconds(50)) {
                if !child.process.isRunning { return true }
                return try progress() > before
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...400)))
            guard child.process.isRunning else {
                finished = true
                break
            }
            #expect(advanced, "run \(kills + 1) made no progress within 30 s: it waited for the dead one's lease")
            kill(child.process.processIdentifier, SIGKILL)
            _ = try await CommandLineResumeTests.wait(child, limit: .seconds(10))
            kills += 1
        }
        if !finished {
            let last = try CommandLineResumeTests.start(binary, in: folder, arguments: arguments, log: "last.log")
            let status = try await CommandLineResumeTests.wait(last, limit: .seconds(120))
            let output = (try? String(contentsOf: last.output, encoding: .utf8)) ?? ""
            #expect(status == 0, "\(output)")
        }
        #expect(kills >= 10, "only \(kills) kills landed during the backfill")
        for id in ids {
            let counts = try psql(shard, "SELECT n || ':' || count(*) FROM tenant_\(id).users GROUP BY n ORDER BY n")
            #expect(counts == "1:40000", "tenant \(id): rows by n: \(counts)")
            #expect(try TenantProbe(shard: shard, schema: "tenant_\(id)").liveLedger(change: "0001_plus").count == 1)
            #expect(try psql(shard, "SELECT count(*) FROM tenant_\(id).flotilla_backfill") == "0")
        }
        #expect(try psql(control, "SELECT state FROM flotilla.rollouts") == "done")
        // Each rerun saw its killed predecessor gone from this host and took its lease and claims over at once.
        let takeovers = Int(try psql(control, "SELECT count(*) FROM flotilla.events WHERE kind = 'takeover'")) ?? 0
        #expect(takeovers >= kills, "\(takeovers) takeovers after \(kills) kills")
    }

    /// SIGKILL after tenants committed the phase but before their batch's outcomes reached the journal (each worker
    /// slot journals its batch of steps at once). The rerun finds the phase in those tenants' ledgers and records
    /// it applied without running it again: every tenant ends with exactly one ledger row and the column.
    @Test(.timeLimit(.minutes(10)))
    func killBetweenTenantCommitAndJournalWriteAppliesNothingTwice() async throws {
        let binary = try CommandLineResumeTests.flotillaBinary()
        let shard = try await TestCluster.shared.freshDatabase(prefix: "kill_journal")
        let control = try await TestCluster.shared.freshDatabase(prefix: "kill_journal_ctl")
        let ids = (1...60).map { String(format: "j%02d", $0) }
        try createSchemaTenants(shard, schemas: ids.map { "tenant_\($0)" }, rows: 1)
        let folder = try makeScratchDirectory(prefix: "flotilla-kill-journal")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.write(
            [
                "fleets/j/fleet.yaml": """
                fleet: j
                control: \(postgresURL(control))
                shards:
                  - {name: s1, url: "\(postgresURL(shard))"}
                tenants:
                  - generate: {count: 60, id: "j{n:02}", shard: s1, schema: "tenant_{id}"}
                """,
                "fleets/j/changes/0001_k.yaml": """
                change: 0001_k
                phases:
                  - name: expand
                    up: |
                      ALTER TABLE users ADD COLUMN k integer;
                      SELECT pg_sleep(0.05);
                    down: ALTER TABLE users DROP COLUMN k;
                """,
                "policies/p.yaml": Self.policy.replacingOccurrences(of: "parallel: 4", with: "parallel: 2"),
            ], in: folder)
        let arguments = ["rollout", "--fleet", "j", "--change", "0001_k", "--policy", "p", "--yes"]
        /// Tenants that committed the phase: its column comes with its ledger row, in one transaction.
        func ledgers() throws -> Int {
            Int(
                try psql(
                    shard,
                    "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.relname = 'users' AND a.attname = 'k' AND NOT a.attisdropped"
                )) ?? 0
        }
        func journaled() throws -> Int {
            if try psql(control, "SELECT to_regclass('flotilla.steps') IS NULL") == "t" { return 0 }
            return Int(try psql(control, "SELECT count(*) FROM flotilla.steps WHERE state = 'applied'")) ?? 0
        }
        // Steps of 50 ms journaled every 250 ms: most of the time, some tenants hold the phase that the journal does
        // not show yet. Killed at such a moment (it may take a few tries on a busy machine).
        var hit = false
        for attempt in 1...8 where !hit {
            let before = try ledgers()
            if before >= ids.count - 6 { break }
            let child = try CommandLineResumeTests.start(
                binary, in: folder, arguments: arguments, log: "run\(attempt).log")
            _ = try await eventually(within: .seconds(60), every: .milliseconds(10)) {
                try ledgers() >= before + 3 || !child.process.isRunning
            }
            kill(child.process.processIdentifier, SIGKILL)
            _ = try await CommandLineResumeTests.wait(child, limit: .seconds(10))
            hit = try ledgers() > journaled()
        }
        #expect(hit, "no kill landed between a tenant's commit and the journal write")
        let rerun = try CommandLineResumeTests.start(binary, in: folder, arguments: arguments, log: "rerun.log")
        let status = try await CommandLineResumeTests.wait(rerun, limit: .seconds(120))
        #expect(status == 0, "\((try? String(contentsOf: rerun.output, encoding: .utf8)) ?? "")")
        for id in ids {
            let probe = TenantProbe(shard: shard, schema: "tenant_\(id)")
            #expect(try probe.ledger(change: "0001_k").count == 1, "tenant \(id) has the phase more than once")
            #expect(try probe.columnType("k") == "integer")
        }
        #expect(try journaled() == ids.count)
        #expect(try psql(control, "SELECT state FROM flotilla.rollouts") == "done")
    }

    /// Ctrl-C while the shard's server has stopped answering (SIGSTOP: sockets open, nothing read or sent): the
    /// clean stop cannot reach the server, and the process still exits 130 within the stop grace (1 s) and a little.
    /// Once the server runs again, the tenant that was in flight holds nothing of the phase.
    @Test(.timeLimit(.minutes(10)))
    func interruptObeysWhileTheShardHangs() async throws {
        let binary = try CommandLineResumeTests.flotillaBinary()
        let server = try await FaultServer.start("sigstop")
        defer {
            Self.signalServer(server, SIGCONT)
            server.destroy()
        }
        let shard = try await server.database("shard")
        let control = try await TestCluster.shared.freshDatabase(prefix: "sigstop_ctl")
        try createSchemaTenants(shard, schemas: ["tenant_h1", "tenant_h2"], rows: 1)
        let folder = try makeScratchDirectory(prefix: "flotilla-sigstop")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.write(
            [
                "fleets/hang/fleet.yaml": """
                fleet: hang
                control: \(postgresURL(control))
                shards:
                  - {name: s1, url: "\(postgresURL(shard))"}
                tenants:
                  - generate: {count: 2, id: "h{n}", shard: s1, schema: "tenant_{id}"}
                """,
                "fleets/hang/changes/0001_slow.yaml": """
                change: 0001_slow
                phases:
                  - name: expand
                    up: |
                      SELECT pg_sleep(10);
                      ALTER TABLE users ADD COLUMN slow integer;
                    down: ALTER TABLE users DROP COLUMN slow;
                """,
                "policies/p.yaml": Self.policy,
            ], in: folder)
        let child = try CommandLineResumeTests.start(
            binary, in: folder,
            arguments: ["rollout", "--fleet", "hang", "--change", "0001_slow", "--policy", "p", "--yes"],
            log: "hang.log")
        let running = try await eventually(within: .seconds(60), every: .milliseconds(50)) {
            // Before the control schema exists, the query fails: not yet.
            (try? psql(control, "SELECT count(*) FROM flotilla.steps WHERE state = 'running'")) == "2"
        }
        try #require(running)
        try await Task.sleep(for: .milliseconds(300))
        Self.signalServer(server, SIGSTOP)
        let interrupted = ContinuousClock.now
        kill(child.process.processIdentifier, SIGINT)
        let status = try await CommandLineResumeTests.wait(child, limit: .seconds(60))
        let took = ContinuousClock.now - interrupted
        Self.signalServer(server, SIGCONT)
        let output = (try? String(contentsOf: child.output, encoding: .utf8)) ?? ""
        #expect(status == 130, "\(output)")
        #expect(took < .seconds(4), "it took \(took) to obey Ctrl-C: \(output)")
        #expect(output.contains("stopping"), "\(output)")
        // The in-flight statements' sessions are gone with the process: their transactions roll back.
        let rolledBack = try await eventually(within: .seconds(60), every: .milliseconds(200)) {
            try psql(
                shard,
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(10)%' AND pid <> pg_backend_pid()")
                == "0"
        }
        #expect(rolledBack)
        for id in ["h1", "h2"] {
            let probe = TenantProbe(shard: shard, schema: "tenant_\(id)")
            #expect(try probe.columnType("slow") == nil)
            #expect(try probe.liveLedger(change: "0001_slow").isEmpty)
        }
    }

    /// SIGKILL of the coordinator while its tenant statements run (a 60 s statement holding the tenant's table): the
    /// server notices within seconds that the client is gone and ends them, so their locks do not block the rerun,
    /// which finishes the phase on every tenant without a lock timeout.
    @Test(.timeLimit(.minutes(10)))
    func killedCoordinatorsStatementsEndWithIt() async throws {
        let binary = try CommandLineResumeTests.flotillaBinary()
        let shard = try await TestCluster.shared.freshDatabase(prefix: "orphan_shard")
        let control = try await TestCluster.shared.freshDatabase(prefix: "orphan_ctl")
        try createSchemaTenants(shard, schemas: ["tenant_o1", "tenant_o2"], rows: 1)
        let folder = try makeScratchDirectory(prefix: "flotilla-orphan")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.write(
            [
                "fleets/orphan/fleet.yaml": """
                fleet: orphan
                control: \(postgresURL(control))
                shards:
                  - {name: s1, url: "\(postgresURL(shard))"}
                tenants:
                  - generate: {count: 2, id: "o{n}", shard: s1, schema: "tenant_{id}"}
                """,
                "fleets/orphan/changes/0001_slow.yaml": """
                change: 0001_slow
                phases:
                  - name: expand
                    up: |
                      ALTER TABLE users ADD COLUMN slow integer;
                      SELECT pg_sleep(CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'rerun') THEN 0 ELSE 60 END);
                    down: ALTER TABLE users DROP COLUMN slow;
                """,
                "policies/p.yaml": Self.policy.replacingOccurrences(of: "lock_timeout: 5s", with: "lock_timeout: 2s"),
            ], in: folder)
        let arguments = ["rollout", "--fleet", "orphan", "--change", "0001_slow", "--policy", "p", "--yes"]
        let child = try CommandLineResumeTests.start(binary, in: folder, arguments: arguments, log: "first.log")
        let sleeping =
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(CASE%' AND pid <> pg_backend_pid()"
        let running = try await eventually(within: .seconds(120), every: .milliseconds(50)) {
            try psql(shard, sleeping) == "2"
        }
        try #require(running, "the two statements never ran")
        kill(child.process.processIdentifier, SIGKILL)
        _ = try await CommandLineResumeTests.wait(child, limit: .seconds(10))
        let killed = ContinuousClock.now
        let ended = try await eventually(within: .seconds(30), every: .milliseconds(100)) {
            try psql(shard, sleeping) == "0"
        }
        let took = ContinuousClock.now - killed
        #expect(ended, "the dead coordinator's statements still ran 30 s after it was killed")
        #expect(took < .seconds(10), "its statements ended \(took) after the kill")
        // Their transactions rolled back: nothing of the phase is left half-done.
        for id in ["o1", "o2"] {
            #expect(try TenantProbe(shard: shard, schema: "tenant_\(id)").columnType("slow") == nil)
        }
        _ = try psql(shard, "CREATE SCHEMA rerun")
        let rerun = try CommandLineResumeTests.start(binary, in: folder, arguments: arguments, log: "rerun.log")
        let status = try await CommandLineResumeTests.wait(rerun, limit: .seconds(120))
        let output = (try? String(contentsOf: rerun.output, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        for id in ["o1", "o2"] {
            let probe = TenantProbe(shard: shard, schema: "tenant_\(id)")
            #expect(try probe.columnType("slow") == "integer")
            #expect(try probe.liveLedger(change: "0001_slow").count == 1)
        }
    }

    /// Sends `signal` to every process of the server (postmaster and backends), as a hung host would look.
    static func signalServer(_ server: FaultServer, _ signal: Int32) {
        let pidFile = server.directory.appendingPathComponent("data/postmaster.pid")
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
            let first = text.split(separator: "\n").first, let postmaster = pid_t(first)
        else { return }
        kill(postmaster, signal)
        let children =
            (try? String(contentsOfFile: "/proc/\(postmaster)/task/\(postmaster)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ pid_t($0) }) { kill(child, signal) }
    }

    static func write(_ files: [String: String], in folder: URL) throws {
        for (path, text) in files {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
    }

    /// A loopback port nobody listens on (bound, then closed at once).
    static func closedPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw TestFailure("bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
