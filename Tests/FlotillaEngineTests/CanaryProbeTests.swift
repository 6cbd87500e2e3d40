import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// `http` and `command` checks during real rollouts: a probe that goes bad mid-bake, a command that hangs,
/// the templated values and environment a command sees.
struct CanaryProbeTests {
    static let change = """
        change: 0001_nickname
        phases:
          - name: expand
            up: ALTER TABLE users ADD COLUMN nickname text;
            down: ALTER TABLE users DROP COLUMN nickname;
        """

    static func policy(bake second: String, checks: String) -> String {
        """
        policy: probes
        waves:
          - {name: first, select: {labels: {wave: first}}, bake: 200ms}
          - {name: second, select: {labels: {wave: second}}, bake: \(second)}
          - {name: third, select: {labels: {wave: third}}, bake: 0s}
        parallel: 4
        per_shard_parallel: 2
        retries: {attempts: 1, backoff: 10ms}
        checks:
        \(checks)
        on_failure: revert
        on_inconclusive: halt
        """
    }

    @Test(.timeLimit(.minutes(10)))
    func httpCheckThatStartsFailingMidBakeReverts() async throws {
        let rig = try await CanaryRig.make("cy-http", tenants: CanaryRevertTests.tenants)
        let secondWaveRequests = CanaryCounter()
        // Healthy at first; after the second wave has been probed six times, it answers 500.
        let server = try CanaryHTTPServer { target in
            guard target.contains("wave=second") else { return (200, "ok") }
            return secondWaveRequests.increment() > 6 ? (500, "database errors") : (200, "ok")
        }
        defer { server.stop() }
        let policy = try canaryPolicy(
            Self.policy(
                bake: "20s",
                checks: """
                      - name: app
                        http:
                          url: "\(server.base)/health?tenant={tenant}&shard={shard}&wave={wave}&phase={phase}&rollout={rollout}"
                          status: 200
                          body_contains: ok
                        scope: wave
                        interval: 100ms
                        timeout: 2s
                        failure_limit: 1
                    """))
        let change = try canaryChange(Self.change)
        let outcome = try await rig.rollout(change, policy)
        guard case .reverted(let id, let reason) = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        // It stopped mid-bake: the second wave's verdict is the failure, not an end-of-bake pass.
        #expect(
            try rig.journal("SELECT string_agg(wave || ':' || verdict, ',' ORDER BY id) FROM flotilla.check_verdicts")
                == "first:passed,second:failed")
        #expect(reason.contains("check app (http, scope wave) failed in wave second"))
        #expect(reason.contains("HTTP 500, expected 200: database errors"))
        // Probed per tenant (the URL names {tenant}), with every value filled in.
        #expect(server.requests.contains("/health?tenant=p2&shard=b&wave=second&phase=expand&rollout=\(id)"))
        #expect(!server.requests.contains { $0.contains("wave=third") })
        // Passes first, then failures, in the second wave.
        #expect(
            try rig.journal(
                """
                SELECT (SELECT min(id) FROM flotilla.measurements WHERE wave = 'second' AND verdict = 'pass')
                     < (SELECT min(id) FROM flotilla.measurements WHERE wave = 'second' AND verdict = 'fail')
                """) == "t")
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE verdict = 'fail' AND value = '500'")
                == "2")
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE wave = 'first' AND verdict <> 'pass'")
                == "0")
        for tenant in rig.tenantsOf(wave: "first") + rig.tenantsOf(wave: "second") {
            #expect(try rig.column(tenant, "nickname") == nil)
            #expect(try rig.ledger(tenant, change: change.id) == ["expand:reverted"])
        }
        for tenant in rig.tenantsOf(wave: "third") { #expect(try rig.hasLedger(tenant) == false) }
        #expect(try rig.journal("SELECT state FROM flotilla.rollouts") == "reverted")
    }

    @Test(.timeLimit(.minutes(10)))
    func hangingCommandIsKilledAtItsTimeoutAndCountsAsAnError() async throws {
        let rig = try await CanaryRig.make("cy-hang", tenants: CanaryRevertTests.tenants)
        // A marker no other process has, to find the command (and what it started) afterwards.
        let marker = "\(Int.random(in: 1000...9999)).\(Int.random(in: 100...999))"
        let policy = try canaryPolicy(
            Self.policy(
                bake: "30s",
                checks: """
                      - name: lag
                        command: ["sh", "-c", "sleep \(marker); echo done"]
                        scope: wave
                        interval: 100ms
                        timeout: 300ms
                        consecutive_error_limit: 1
                    """))
        let change = try canaryChange(Self.change)
        let outcome = try await rig.rollout(change, policy)
        guard case .reverted(_, let reason) = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        #expect(reason.contains("check lag (command, scope wave) failed in wave first"))
        #expect(reason.contains("2 consecutive errors on wave, more than consecutive_error_limit 1"))
        #expect(try rig.journal("SELECT string_agg(DISTINCT verdict, ',') FROM flotilla.measurements") == "error")
        #expect(
            try rig.journal(
                "SELECT bool_and(detail LIKE 'still running after the timeout of 300 ms; killed%') FROM flotilla.measurements"
            )
                == "t")
        // Killed near its timeout, not left to run.
        #expect(try rig.journal("SELECT max(duration_ms) < 5000 FROM flotilla.measurements") == "t")
        #expect(Self.processes(containing: "sleep \(marker)").isEmpty)
        for tenant in rig.tenantsOf(wave: "first") {
            #expect(try rig.ledger(tenant, change: change.id) == ["expand:reverted"])
        }
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.steps WHERE state <> 'pending' AND wave <> 'first'") == "0")
    }

    @Test(.timeLimit(.minutes(10)))
    func commandSeesTemplatedArgumentsAndEnvironment() async throws {
        let rig = try await CanaryRig.make("cy-env", tenants: CanaryRevertTests.tenants)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "flotilla-canary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("check.sh")
        let log = folder.appendingPathComponent("seen.log")
        try """
        #!/bin/sh
        echo "$FLOTILLA_TENANT|$FLOTILLA_SHARD|$FLOTILLA_PHASE|$FLOTILLA_WAVE|$FLOTILLA_ROLLOUT|$1" >> '\(log.path)'
        """.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let policy = try canaryPolicy(
            Self.policy(
                bake: "0s",
                checks: """
                      - {name: env, command: ["\(script.path)", "{tenant}@{shard}/{wave}"], scope: tenant}
                    """))
        let change = try canaryChange(Self.change)
        let outcome = try await rig.rollout(change, policy)
        guard case .done(let id) = outcome else {
            Issue.record("expected done, got \(outcome)")
            return
        }
        let seen = Set(try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init))
        for tenant in rig.fleet.tenants {
            let wave = tenant.labels["wave"]!
            #expect(
                seen.contains("\(tenant.id)|\(tenant.shard)|expand|\(wave)|\(id)|\(tenant.id)@\(tenant.shard)/\(wave)"))
        }
        // Every tenant measured, every measurement a pass (the first wave twice: after its steps and at the end of its bake).
        #expect(
            try rig.journal(
                "SELECT count(DISTINCT tenant) || '/' || bool_and(verdict = 'pass') FROM flotilla.measurements")
                == "9/true")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE wave = 'first'") == "4")
        #expect(try rig.journal("SELECT count(*) FROM flotilla.check_verdicts WHERE verdict = 'passed'") == "3")
    }

    @Test(.timeLimit(.minutes(10)))
    func inconclusiveBakeFollowsOnInconclusive() async throws {
        let rig = try await CanaryRig.make("cy-inconclusive", tenants: CanaryRevertTests.tenants)
        // No data (NULL) in the second wave once it has the column.
        let check = """
              - name: signal
                sql: "SELECT CASE WHEN ok THEN true END OR NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'nickname') FROM health"
                interval: 100ms
            """
        for tenant in rig.tenantsOf(wave: "second") { _ = try rig.query(tenant, "UPDATE health SET ok = false") }
        let change = try canaryChange(Self.change)
        let halting = try canaryPolicy(Self.policy(bake: "300ms", checks: check))
        let outcome = try await rig.rollout(change, halting)
        guard case .halted(_, let reason) = outcome else {
            Issue.record("expected halted, got \(outcome)")
            return
        }
        #expect(reason.contains("inconclusive health in wave second"))
        #expect(reason.contains("returned NULL"))
        for tenant in rig.tenantsOf(wave: "second") {
            #expect(try rig.ledger(tenant, change: change.id) == ["expand:live"], "halted, so kept as it is")
        }
        #expect(try rig.journal("SELECT count(*) FROM flotilla.measurements WHERE verdict = 'inconclusive'") != "0")
        #expect(try rig.journal("SELECT verdict FROM flotilla.check_verdicts WHERE wave = 'second'") == "inconclusive")

        // The same with on_inconclusive: continue goes on to the end.
        _ = try rig.journal("DELETE FROM flotilla.rollouts")
        let continuing = try canaryPolicy(
            Self.policy(bake: "300ms", checks: check).replacingOccurrences(
                of: "on_inconclusive: halt", with: "on_inconclusive: continue"))
        let second = try await rig.rollout(change, continuing)
        guard case .done = second else {
            Issue.record("expected done, got \(second)")
            return
        }
        for tenant in rig.fleet.tenants { #expect(try rig.column(tenant, "nickname") == "text") }
    }

    @Test(.timeLimit(.minutes(10)))
    func inconclusiveBakePausesUntilApproved() async throws {
        let rig = try await CanaryRig.make("cy-pause", tenants: CanaryRevertTests.tenants)
        for tenant in rig.tenantsOf(wave: "second") { _ = try rig.query(tenant, "UPDATE health SET ok = NULL") }
        let policy = try canaryPolicy(
            Self.policy(
                bake: "200ms",
                checks: """
                      - {name: signal, sql: "SELECT ok FROM health", interval: 100ms}
                    """
            ).replacingOccurrences(of: "on_inconclusive: halt", with: "on_inconclusive: pause"))
        let change = try canaryChange(Self.change)
        let run = Task {
            try await rig.rollout(
                change, policy, options: RolloutEngine.Options(waitForApproval: true, approvalPoll: .milliseconds(100)))
        }
        // Generous: the whole test suite shares two cores and one PostgreSQL.
        let paused = try await eventually(within: .seconds(150)) {
            (try? rig.journal("SELECT state FROM flotilla.rollouts")) == "paused"
        }
        try #require(paused)
        #expect(try rig.journal("SELECT current_wave FROM flotilla.rollouts") == "second")
        #expect(
            try rig.journal("SELECT count(*) FROM flotilla.steps WHERE wave = 'third' AND started_at IS NOT NULL")
                == "0")
        let id = try rig.journal("SELECT id FROM flotilla.rollouts")
        _ = try await rig.withEngine { _, store in try await store.approve(id, phase: "expand@second") }
        let outcome = try await run.value
        #expect(outcome == .done(rollout: id))
        for tenant in rig.fleet.tenants { #expect(try rig.ledger(tenant, change: change.id) == ["expand:live"]) }
        #expect(try rig.journal("SELECT verdict FROM flotilla.check_verdicts WHERE wave = 'second'") == "inconclusive")
    }

    /// Command lines of running processes that contain `text`.
    static func processes(containing text: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return line.contains(text) ? line : nil
        }
    }
}

/// A thread-safe counter.
final class CanaryCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
