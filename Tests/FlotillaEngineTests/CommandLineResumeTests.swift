import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real `flotilla rollout` killed with SIGKILL mid-phase, then run again: it resumes and applies nothing twice.
struct CommandLineResumeTests {
    /// `.build/<triple>/debug/flotilla`, next to the test bundle (or found from this file's package root).
    static func flotillaBinary() throws -> URL {
        var candidates: [URL] = []
        if let first = CommandLine.arguments.first {
            candidates.append(
                URL(fileURLWithPath: first).deletingLastPathComponent().appendingPathComponent("flotilla"))
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("flotilla"))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/flotilla"))
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        throw TestFailure(
            "the flotilla executable is not built (looked in \(candidates.map(\.path))); run swift build --build-tests")
    }

    /// Counts ledger rows per tenant schema of a shard, for one phase.
    static let ledgerFunction = """
        CREATE FUNCTION public.ledger_rows(p text) RETURNS TABLE (tenant text, n bigint) LANGUAGE plpgsql AS $$
        DECLARE s text;
        BEGIN
          FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1 LOOP
            tenant := s;
            IF to_regclass(quote_ident(s) || '.flotilla_history') IS NULL THEN
              n := 0;
            ELSE
              EXECUTE format('SELECT count(*) FROM %I.flotilla_history WHERE phase = $1', s) INTO n USING p;
            END IF;
            RETURN NEXT;
          END LOOP;
        END $$;
        """

    struct Child {
        let process: Process
        let output: URL
    }

    static func start(_ binary: URL, in folder: URL, arguments: [String], log: String) throws -> Child {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = folder
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("PG") && $0.key != "FLOTILLA_CONTROL_URL"
        }
        environment["FLOTILLA_HOME"] = folder.appendingPathComponent(".flotilla").path
        environment["FLOTILLA_LOG_LEVEL"] = "error"
        process.environment = environment
        let output = folder.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return Child(process: process, output: output)
    }

    static func wait(_ child: Child, limit: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + limit
        while child.process.isRunning {
            if ContinuousClock.now > deadline {
                kill(child.process.processIdentifier, SIGKILL)
                return nil
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return child.process.terminationStatus
    }

    @Test(.timeLimit(.minutes(10)))
    func rolloutKilledWithSIGKILLResumesWithoutApplyingTwice() async throws {
        let binary = try Self.flotillaBinary()
        let shardA = try await TestCluster.shared.freshDatabase(prefix: "kill_a")
        let shardB = try await TestCluster.shared.freshDatabase(prefix: "kill_b")
        let control = try await TestCluster.shared.freshDatabase(prefix: "kill_ctl")
        let ids = (1...40).map { String(format: "k%02d", $0) }
        // The generator deals tenants over [a, b] in turn: odd ones on a, even ones on b.
        try createSchemaTenants(
            shardA, schemas: ids.enumerated().filter { $0.offset % 2 == 0 }.map { "tenant_\($0.element)" }, rows: 2,
            extra: Self.ledgerFunction)
        try createSchemaTenants(
            shardB, schemas: ids.enumerated().filter { $0.offset % 2 == 1 }.map { "tenant_\($0.element)" }, rows: 2,
            extra: Self.ledgerFunction)

        let folder = try makeScratchDirectory(prefix: "flotilla-kill")
        defer { try? FileManager.default.removeItem(at: folder) }
        let files: [String: String] = [
            "fleets/kill-fleet/fleet.yaml": """
            fleet: kill-fleet
            control: \(postgresURL(control))
            shards:
              - name: a
                url: \(postgresURL(shardA))
              - name: b
                url: \(postgresURL(shardB))
            tenants:
              - generate: {count: 40, id: "k{n:02}", shard: [a, b], schema: "tenant_{id}"}
            """,
            "fleets/kill-fleet/changes/0001_slow.yaml": """
            change: 0001_slow
            phases:
              - name: first
                up: |
                  SELECT pg_sleep(0.6);
                  ALTER TABLE users ADD COLUMN first_col integer;
                down: ALTER TABLE users DROP COLUMN first_col;
              - name: second
                up: |
                  SELECT pg_sleep(0.05);
                  ALTER TABLE users ADD COLUMN second_col integer;
                down: ALTER TABLE users DROP COLUMN second_col;
            """,
            "policies/p.yaml": """
            policy: p
            waves:
              - {name: canary, select: {tenants: [k01, k02]}}
              - {name: rest, select: {remaining: true}}
            parallel: 4
            per_shard_parallel: 2
            lock_timeout: 5s
            retries: {attempts: 3, backoff: 100ms}
            """,
        ]
        for (path, text) in files {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let arguments = ["rollout", "--fleet", "kill-fleet", "--change", "0001_slow", "--policy", "p", "--yes"]
        func ledger(_ phase: String) throws -> [String: Int] {
            var counts: [String: Int] = [:]
            for shard in [shardA, shardB] {
                for line in lines(try psql(shard, "SELECT tenant, n FROM public.ledger_rows('\(phase)')")) {
                    let parts = line.split(separator: "|")
                    counts[String(parts[0])] = Int(parts[1])
                }
            }
            return counts
        }

        // First run: killed once a few tenants have the first phase (≈1.5 s in; 10 s of the phase are left then, room
        // for a slow poll on a busy machine).
        let first = try Self.start(binary, in: folder, arguments: arguments, log: "first.log")
        let someApplied = try await eventually(within: .seconds(60), every: .milliseconds(50)) {
            guard first.process.isRunning else { return true }
            return try ledger("first").values.reduce(0, +) >= 6
        }
        kill(first.process.processIdentifier, SIGKILL)
        _ = try await Self.wait(first, limit: .seconds(10))
        let firstLog = (try? String(contentsOf: first.output, encoding: .utf8)) ?? ""
        #expect(someApplied)
        #expect(
            first.process.terminationReason == .uncaughtSignal,
            "the first run ended on its own before the kill: \(firstLog)")

        let afterKill = try ledger("first")
        let applied = afterKill.values.filter { $0 > 0 }.count
        #expect(applied > 0 && applied < 40, "after the kill \(applied) of 40 tenants had the first phase")
        #expect(afterKill.values.allSatisfy { $0 <= 1 })
        #expect(try ledger("second").values.reduce(0, +) == 0)
        #expect(try psql(control, "SELECT state FROM flotilla.rollouts") == "running")

        // The dead coordinator's sessions (and their advisory locks) go away once PostgreSQL sees the sockets closed.
        let released = try await eventually(within: .seconds(20), every: .milliseconds(100)) {
            try psql(
                control,
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname IN ('\(control.database)', '\(shardA.database)', '\(shardB.database)')"
            ) == "0"
        }
        #expect(released)

        // Second run: resumes the same rollout to the end.
        let second = try Self.start(binary, in: folder, arguments: arguments, log: "second.log")
        let status = try await Self.wait(second, limit: .seconds(90))
        let secondLog = (try? String(contentsOf: second.output, encoding: .utf8)) ?? ""
        #expect(status == 0, "second run: \(secondLog)")
        #expect(secondLog.contains("resuming"), "\(secondLog)")

        for phase in ["first", "second"] {
            let counts = try ledger(phase)
            #expect(counts.count == 40)
            #expect(counts.values.allSatisfy { $0 == 1 }, "phase \(phase): \(counts.filter { $0.value != 1 })")
        }
        for (index, id) in ids.enumerated() {
            let probe = TenantProbe(shard: index % 2 == 0 ? shardA : shardB, schema: "tenant_\(id)")
            #expect(try probe.columnType("first_col") == "integer", "tenant \(id)")
            #expect(try probe.columnType("second_col") == "integer", "tenant \(id)")
        }
        #expect(
            try psql(control, "SELECT count(*) || '|' || string_agg(state, ',') FROM flotilla.rollouts") == "1|done")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.steps WHERE state <> 'applied'") == "0")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.steps") == "80")
        let kinds = lines(try psql(control, "SELECT kind FROM flotilla.events ORDER BY id"))
        #expect(kinds.contains("resumed"))
        #expect(kinds.last == "done")
    }
}
