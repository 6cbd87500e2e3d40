import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Fixtures of the tests that run the real `flotilla` binary as child processes: a workspace folder of fleets,
/// changes and policies whose shards and control store are databases of the shared throwaway cluster, the child
/// processes themselves, and readers of the outcomes in PostgreSQL (with `psql`, outside the code under test).
///
/// Everything lives in this namespace so that it cannot collide with the other helpers of the test target.
enum ChildProcessFixtures {
    /// A fixture could not be set up, or a child did something the test cannot go on from.
    struct Failure: Error, CustomStringConvertible {
        let description: String

        init(_ description: String) {
            self.description = description
        }
    }

    /// The package root: three levels up from this file (`Tests/FlotillaEngineTests/…`).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `.build/debug/flotilla` of this package; fails clearly when it was not built.
    static func flotillaBinary() throws -> URL {
        let binary = packageRoot.appendingPathComponent(".build/debug/flotilla")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw Failure(
                "the flotilla executable is missing at \(binary.path): build it first with `swift build --build-tests` in \(packageRoot.path)"
            )
        }
        return binary
    }

    /// The rows psql printed, one per line (empty output: no rows).
    static func rows(_ text: String) -> [[String]] {
        guard !text.isEmpty else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        }
    }

    // MARK: - The workspace

    /// A temporary folder (`mkdtemp` under `/tmp`, mode 711) with `fleets/`, `policies/`: the children's cwd.
    struct Workspace: Sendable {
        let folder: URL

        init(prefix: String) throws {
            folder = try makeScratchDirectory(prefix: prefix)
        }

        func write(_ path: String, _ text: String) throws {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }

        func remove() {
            try? FileManager.default.removeItem(at: folder)
        }
    }

    /// A fleet of schema-per-tenant tenants on databases of the shared cluster, generated round-robin over its
    /// shards: tenant `n` (from 1) is on shard `(n - 1) % shards.count`, id `PREFIX{n:03}`, schema `tenant_ID`.
    struct Fleet: Sendable {
        let name: String
        let control: ConnectionURL
        let shards: [ConnectionURL]
        let tenantCount: Int
        let idPrefix: String

        static func shardName(_ index: Int) -> String { "s\(index + 1)" }

        func id(_ n: Int) -> String { idPrefix + String(format: "%03d", n) }

        /// Tenant ids on each shard, in the generator's order.
        var tenantsByShard: [[String]] {
            var result = Array(repeating: [String](), count: shards.count)
            for n in 1...tenantCount { result[(n - 1) % shards.count].append(id(n)) }
            return result
        }

        var yaml: String {
            var text = "fleet: \(name)\ncontrol: \"\(postgresURL(control))\"\nshards:\n"
            for (index, shard) in shards.enumerated() {
                text += "  - name: \(Self.shardName(index))\n    url: \"\(postgresURL(shard))\"\n"
            }
            let shardNames = shards.indices.map(Self.shardName).joined(separator: ", ")
            text += "tenants:\n"
            text +=
                "  - generate: {count: \(tenantCount), id: \"\(idPrefix){n:03}\", shard: [\(shardNames)], schema: \"tenant_{id}\"}\n"
            return text
        }

        /// Fresh shard databases (and, unless given, a fresh control database) on the shared cluster.
        static func make(
            name: String, shards count: Int, tenants: Int, idPrefix: String, control: ConnectionURL? = nil
        ) async throws -> Fleet {
            var shards: [ConnectionURL] = []
            for index in 0..<count {
                shards.append(try await TestCluster.shared.freshDatabase(prefix: "cp_\(index + 1)"))
            }
            let controlURL: ConnectionURL
            if let control {
                controlURL = control
            } else {
                controlURL = try await TestCluster.shared.freshDatabase(prefix: "cp_ctl")
            }
            return Fleet(name: name, control: controlURL, shards: shards, tenantCount: tenants, idPrefix: idPrefix)
        }

        /// A fleet ready to roll out: `make`, its tenants created, it and `change` written into `workspace` with the
        /// policy `policy` (a canary of the first `canary` tenants, then the rest).
        static func prepare(
            name: String, shards: Int, tenants: Int, idPrefix: String, change: ChangeFile, in workspace: Workspace,
            canary: Int, parallel: Int, perShard: Int, policy: String = "p", control: ConnectionURL? = nil
        ) async throws -> Fleet {
            let fleet = try await make(
                name: name, shards: shards, tenants: tenants, idPrefix: idPrefix, control: control)
            try fleet.createTenants()
            try fleet.write(into: workspace, change: change)
            try workspace.write(
                "policies/\(policy).yaml",
                ChildProcessFixtures.policyYAML(
                    name: policy, canary: (1...canary).map(fleet.id), parallel: parallel, perShard: perShard))
            return fleet
        }

        /// `flotilla rollout` of `change` on this fleet with `policy`.
        func rolloutArguments(_ change: ChangeFile, policy: String = "p") -> [String] {
            ["rollout", "--fleet", name, "--change", change.id, "--policy", policy, "--yes"]
        }

        /// Creates every tenant's (empty) schema and the outcome reader on each shard.
        func createTenants() throws {
            for (index, ids) in tenantsByShard.enumerated() {
                let schemas = ids.map { "CREATE SCHEMA tenant_\($0);" }.joined(separator: "\n")
                _ = try psql(shards[index], schemas + "\n" + ChildProcessFixtures.probeFunction)
            }
        }

        /// Writes `fleets/NAME/fleet.yaml` and the change into the workspace.
        func write(into workspace: Workspace, change: ChangeFile) throws {
            try workspace.write("fleets/\(name)/fleet.yaml", yaml)
            try workspace.write("fleets/\(name)/changes/\(change.id).yaml", change.yaml)
        }

        /// What each tenant holds of one phase (its marker table, its ledger rows), read with psql on every shard.
        func outcomes(change: String, phase: String, marker: String) throws -> [TenantOutcome] {
            var result: [TenantOutcome] = []
            for shard in shards {
                let text = try psql(
                    shard, "SELECT * FROM public.cp_probe('\(change)', '\(phase)', '\(marker)') ORDER BY 1")
                for columns in ChildProcessFixtures.rows(text) where columns.count == 5 {
                    result.append(
                        TenantOutcome(
                            schema: columns[0], marker: columns[1] == "t", live: Int(columns[2]) ?? -1,
                            total: Int(columns[3]) ?? -1, appliedAt: Double(columns[4])))
                }
            }
            return result
        }
    }

    /// One tenant's state for one phase.
    struct TenantOutcome: Sendable, CustomStringConvertible {
        var schema: String
        /// The phase's marker table exists.
        var marker: Bool
        /// Live ledger rows (`reverted_at IS NULL`) of the phase.
        var live: Int
        /// All ledger rows of the phase.
        var total: Int
        /// When the live row's transaction began (epoch seconds).
        var appliedAt: Double?

        var description: String { "\(schema): marker \(marker), ledger live \(live) of \(total)" }
    }

    /// `public.cp_probe(change, phase, marker)`: per tenant schema, whether the marker table exists, the live and
    /// total ledger rows of the phase, and when the live row's transaction began.
    static let probeFunction = """
        CREATE FUNCTION public.cp_probe(p_change text, p_phase text, p_marker text)
        RETURNS TABLE (tenant text, marker boolean, live bigint, total bigint, applied_at double precision)
        LANGUAGE plpgsql AS $$
        DECLARE s text;
        BEGIN
          FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1 LOOP
            tenant := s;
            marker := to_regclass(quote_ident(s) || '.' || quote_ident(p_marker)) IS NOT NULL;
            IF to_regclass(quote_ident(s) || '.flotilla_history') IS NULL THEN
              live := 0;
              total := 0;
              applied_at := NULL;
            ELSE
              EXECUTE format(
                'SELECT count(*) FILTER (WHERE reverted_at IS NULL), count(*), '
                || 'extract(epoch FROM max(applied_at) FILTER (WHERE reverted_at IS NULL))::double precision '
                || 'FROM %I.flotilla_history WHERE change = $1 AND phase = $2', s)
                INTO live, total, applied_at USING p_change, p_phase;
            END IF;
            RETURN NEXT;
          END LOOP;
        END $$;
        """

    /// A change file: phases that sleep, then create a marker table (dropped by `down`).
    struct ChangeFile: Sendable {
        struct Phase: Sendable {
            var name: String
            var sleep: Double
            var marker: String
        }

        var id = "0001_x"
        var phases: [Phase]

        var yaml: String {
            var text = "change: \(id)\nphases:\n"
            for phase in phases {
                text += "  - name: \(phase.name)\n"
                text += "    up: |\n"
                text += "      SELECT pg_sleep(\(phase.sleep));\n"
                text += "      CREATE TABLE IF NOT EXISTS \(phase.marker) (id int);\n"
                text += "    down: DROP TABLE IF EXISTS \(phase.marker);\n"
            }
            return text
        }
    }

    /// `policies/NAME.yaml`: a canary wave of the first two tenants, then the rest; no bake, no checks.
    static func policyYAML(name: String, canary: [String], parallel: Int, perShard: Int) -> String {
        """
        policy: \(name)
        waves:
          - {name: canary, select: {tenants: [\(canary.joined(separator: ", "))]}}
          - {name: rest, select: {remaining: true}}
        parallel: \(parallel)
        per_shard_parallel: \(perShard)
        lock_timeout: 5s
        statement_timeout: 1m
        retries: {attempts: 3, backoff: 100ms}

        """
    }

    // MARK: - Reading the journal

    /// Runs SQL on the control database with psql, `nil` when it fails (the schema may not exist yet).
    static func journal(_ control: ConnectionURL, _ sql: String) -> String? {
        try? psql(control, sql)
    }

    /// `flotilla.halts.halted_at` of the newest halt, as a date.
    static func newestHaltTime(_ control: ConnectionURL) throws -> Date {
        let text = try psql(control, "SELECT extract(epoch FROM max(halted_at))::double precision FROM flotilla.halts")
        guard let seconds = Double(text) else {
            throw Failure("no halt recorded in flotilla.halts (psql said '\(text)')")
        }
        return Date(timeIntervalSince1970: seconds)
    }

    /// Steps in state `applied` of a fleet's rollouts (0 before the control schema exists).
    static func appliedSteps(_ control: ConnectionURL, fleet: String) -> Int {
        let text = journal(
            control,
            "SELECT count(*) FROM flotilla.steps s JOIN flotilla.rollouts r ON r.id = s.rollout_id WHERE r.fleet = '\(fleet)' AND s.state = 'applied'"
        )
        return text.flatMap { Int($0) } ?? 0
    }

    // MARK: - Child processes

    /// A running (or finished) `flotilla` child, with its output in files of the workspace.
    final class Child: @unchecked Sendable {
        let name: String
        let process: Process
        let standardOutput: URL
        let standardError: URL
        private let lock = NSLock()
        private var exitDate: Date?

        init(name: String, process: Process, standardOutput: URL, standardError: URL) {
            self.name = name
            self.process = process
            self.standardOutput = standardOutput
            self.standardError = standardError
        }

        var pid: Int32 { process.processIdentifier }
        var isRunning: Bool { process.isRunning }

        /// When the process was seen to exit.
        var exitedAt: Date? {
            lock.lock()
            defer { lock.unlock() }
            return exitDate
        }

        func markExited(_ date: Date) {
            lock.lock()
            if exitDate == nil { exitDate = date }
            lock.unlock()
        }

        var output: String { (try? String(contentsOf: standardOutput, encoding: .utf8)) ?? "" }
        var errors: String { (try? String(contentsOf: standardError, encoding: .utf8)) ?? "" }

        /// The exit status, or nil when it was killed by a signal (or is still running).
        var exitStatus: Int32? {
            guard !process.isRunning, process.terminationReason == .exit else { return nil }
            return process.terminationStatus
        }

        var killedBySignal: Bool { !process.isRunning && process.terminationReason == .uncaughtSignal }

        /// The child's command, status and output, for failure messages.
        var transcript: String {
            let status =
                process.isRunning
                ? "still running"
                : killedBySignal ? "killed by signal \(process.terminationStatus)" : "exit \(process.terminationStatus)"
            return
                "[\(name): flotilla \(process.arguments?.joined(separator: " ") ?? "") — \(status)]\nstdout:\n\(output)\nstderr:\n\(errors)"
        }

        /// Sends `signal` if it still runs (only to this child, by its id).
        func signal(_ signal: Int32) {
            if process.isRunning { kill(process.processIdentifier, signal) }
        }

        /// Waits for the child to exit; after `limit` kills it with SIGKILL and returns nil.
        @discardableResult
        func wait(limit: Duration) async throws -> Int32? {
            let deadline = ContinuousClock.now + limit
            while process.isRunning {
                if ContinuousClock.now > deadline {
                    signal(SIGKILL)
                    while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
                    return nil
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            markExited(Date())
            return exitStatus
        }
    }

    /// The children of one test, killed (SIGKILL, each by its own id) when the test leaves early.
    final class Children: @unchecked Sendable {
        private let lock = NSLock()
        private var children: [Child] = []
        let binary: URL
        let workspace: Workspace

        init(workspace: Workspace) throws {
            binary = try ChildProcessFixtures.flotillaBinary()
            self.workspace = workspace
        }

        /// Starts `flotilla ARGUMENTS` in the workspace folder; stdout and stderr go to `NAME.out` / `NAME.err`.
        func start(_ name: String, _ arguments: [String]) throws -> Child {
            let process = Process()
            process.executableURL = binary
            process.arguments = arguments
            process.currentDirectoryURL = workspace.folder
            var environment = ProcessInfo.processInfo.environment.filter {
                !$0.key.hasPrefix("PG") && $0.key != "FLOTILLA_CONTROL_URL"
            }
            environment["FLOTILLA_HOME"] = workspace.folder.appendingPathComponent(".flotilla").path
            environment["FLOTILLA_LOG_LEVEL"] = "error"
            // The clean stop is what these tests check, not the backstop that quits when it takes too long.
            environment["FLOTILLA_STOP_GRACE"] = "30"
            environment["USER"] = "flotilla-tests"
            process.environment = environment
            let standardOutput = workspace.folder.appendingPathComponent("\(name).out")
            let standardError = workspace.folder.appendingPathComponent("\(name).err")
            _ = FileManager.default.createFile(atPath: standardOutput.path, contents: nil)
            _ = FileManager.default.createFile(atPath: standardError.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: standardOutput)
            process.standardError = try FileHandle(forWritingTo: standardError)
            process.standardInput = FileHandle.nullDevice
            let child = Child(
                name: name, process: process, standardOutput: standardOutput, standardError: standardError)
            process.terminationHandler = { _ in child.markExited(Date()) }
            try process.run()
            lock.lock()
            children.append(child)
            lock.unlock()
            return child
        }

        /// Runs `flotilla ARGUMENTS` to its end (killed after `limit`).
        func run(_ name: String, _ arguments: [String], limit: Duration = .seconds(60)) async throws -> Child {
            let child = try start(name, arguments)
            try await child.wait(limit: limit)
            return child
        }

        /// SIGKILLs every child of this test that still runs.
        func killRemaining() {
            lock.lock()
            let all = children
            lock.unlock()
            for child in all { child.signal(SIGKILL) }
        }
    }

    // MARK: - Sampling pg_stat_activity

    /// The most backends seen running `pg_sleep` at once, per database and in total.
    struct SleeperPeaks: Sendable {
        var samples = 0
        var perDatabase: [String: Int] = [:]
        var total = 0
    }

    /// Samples `pg_stat_activity` every `interval`, per database of `databases`: the active backends whose query
    /// contains `pg_sleep`. The sampling runs inside PostgreSQL (a `DO` loop that commits each sample into a database
    /// of its own, started by a `psql` child), so a busy test process cannot slow it down or skip samples.
    final class SleeperSampler: @unchecked Sendable {
        let database: ConnectionURL
        let process: Process

        static func start(databases: [String], every interval: Duration) async throws -> SleeperSampler {
            let database = try await TestCluster.shared.freshDatabase(prefix: "cp_sampler")
            _ = try psql(database, "CREATE TABLE samples (n int, db text, c int); CREATE TABLE stop (x int);")
            let names = databases.map { "'\($0.replacingOccurrences(of: "'", with: "''"))'" }.joined(separator: ", ")
            let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
            let loop = """
                DO $$
                DECLARE i int := 0;
                BEGIN
                  WHILE NOT EXISTS (SELECT 1 FROM stop) LOOP
                    i := i + 1;
                    INSERT INTO samples SELECT i, datname::text, count(*) FROM pg_stat_activity
                      WHERE state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()
                        AND datname IN (\(names))
                      GROUP BY datname;
                    INSERT INTO samples VALUES (i, '', 0);
                    COMMIT;
                    PERFORM pg_sleep(\(seconds));
                  END LOOP;
                END $$;
                """
            let process = Process()
            process.executableURL = try PostgresBinaries.locate().path(for: .psql)
            process.arguments = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", loop]
            process.environment = database.libpqEnvironment()
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let sampler = SleeperSampler(database: database, process: process)
            // Sampling from now on.
            let running = try await eventually(within: .seconds(30), every: .milliseconds(10)) {
                !process.isRunning || (try? psql(database, "SELECT count(*) > 0 FROM samples")) == "t"
            }
            guard running, process.isRunning else {
                sampler.cancel()
                throw Failure("the pg_stat_activity sampler did not start (psql exit \(process.terminationStatus))")
            }
            return sampler
        }

        private init(database: ConnectionURL, process: Process) {
            self.database = database
            self.process = process
        }

        /// Stops sampling and returns the peaks.
        func stop() async throws -> SleeperPeaks {
            _ = try psql(database, "INSERT INTO stop VALUES (1)")
            let stopped = try await eventually(within: .seconds(10), every: .milliseconds(20)) { !process.isRunning }
            if !stopped { cancel() }
            var peaks = SleeperPeaks()
            peaks.samples = Int(try psql(database, "SELECT count(DISTINCT n) FROM samples")) ?? 0
            for columns in rows(try psql(database, "SELECT db, max(c) FROM samples WHERE db <> '' GROUP BY db")) {
                peaks.perDatabase[columns[0]] = Int(columns[1]) ?? 0
            }
            peaks.total =
                Int(
                    try psql(database, "SELECT coalesce(max(s), 0) FROM (SELECT sum(c) AS s FROM samples GROUP BY n) t")
                ) ?? 0
            return peaks
        }

        /// Stops at once, for a test that leaves early: the loop's backend, then psql (each by its own id).
        func cancel() {
            _ = try? psql(database, "INSERT INTO stop VALUES (1)")
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }
}
