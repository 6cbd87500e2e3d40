import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// `flotilla halt` and `flotilla resume` against real `flotilla rollout` child processes (issue 5), every outcome read
/// from PostgreSQL with psql.
///
/// Serialized: these tests bound how fast a halt stops a rollout, and several 300-tenant rollouts at once on two cores
/// would measure the machine rather than the halt.
@Suite(.serialized)
struct HaltCommandTests {
    typealias Fixtures = ChildProcessFixtures

    /// What one rollout halted mid-wave left behind.
    struct MidWaveHalt {
        var fleet: Fixtures.Fleet
        var rollout: Fixtures.Child
        /// From `flotilla.halts.halted_at` to the rollout process's exit, in seconds.
        var latency: Double
        var haltedAt: Date
    }

    /// Starts a rollout of a one-phase change (`pg_sleep(0.3)`, then a marker table) over `tenants` tenants on two
    /// shards — at most 8 steps at once, so 300 tenants take 11 s or more and the halt lands mid-wave even on a busy
    /// machine, where starting the `halt` command alone may take seconds — halts the fleet with `flotilla halt --fleet` once some tenants are done, and checks what every halt
    /// must leave: exit 3, state `halted`, each tenant with both the marker and its ledger row or neither, some but
    /// not all tenants applied, nothing that started more than 1 s after the halt committed, no step left running.
    func haltMidWave(
        name: String, tenants: Int = 300, listen: Bool, in workspace: Fixtures.Workspace, children: Fixtures.Children
    ) async throws -> MidWaveHalt {
        let change = Fixtures.ChangeFile(phases: [.init(name: "expand", sleep: 0.3, marker: "marker")])
        let fleet = try await Fixtures.Fleet.prepare(
            name: name, shards: 2, tenants: tenants, idPrefix: "h", change: change, in: workspace, canary: 2,
            parallel: 8, perShard: 4)

        var arguments = fleet.rolloutArguments(change)
        if !listen { arguments.append("--no-halt-listener") }
        let rollout = try children.start("rollout", arguments)
        // Mid-wave: once the canary is through and a few tenants of the big wave are done (≈1.5 s in).
        let busy = try await eventually(within: .seconds(90), every: .milliseconds(20)) {
            !rollout.isRunning || Fixtures.appliedSteps(fleet.control, fleet: name) >= 20
        }
        try #require(
            busy && rollout.isRunning, "the rollout was not mid-wave when it should be halted: \(rollout.transcript)")

        let reason = "pager: error rate on \(name)"
        let halt = try await children.run("halt", ["halt", "--fleet", name, "--reason", reason, "--by", "tester"])
        #expect(halt.exitStatus == 0, "\(halt.transcript)")
        #expect(halt.output.contains("halted (fleet \(name)) by tester"), "\(halt.transcript)")
        let haltedAt = try Fixtures.newestHaltTime(fleet.control)

        let status = try await rollout.wait(limit: .seconds(60))
        let latency = (rollout.exitedAt ?? Date()).timeIntervalSince(haltedAt)
        #expect(status == 3, "the rollout should exit 3 when halted: \(rollout.transcript)")
        #expect(rollout.output.contains("HALT:"), "\(rollout.transcript)")

        let control = fleet.control
        #expect(
            try psql(control, "SELECT count(*) || '|' || string_agg(state, ',') FROM flotilla.rollouts") == "1|halted")
        #expect(try psql(control, "SELECT reason LIKE '%' || 'pager: error rate' || '%' FROM flotilla.rollouts") == "t")

        // Each tenant is before or after the phase: the marker table and the live ledger row, or neither.
        let outcomes = try fleet.outcomes(change: change.id, phase: "expand", marker: "marker")
        #expect(outcomes.count == tenants)
        let torn = outcomes.filter { $0.marker != ($0.live == 1) || $0.live > 1 || $0.total > 1 }
        #expect(
            torn.isEmpty, "tenants with the marker but not the ledger row, or the other way round: \(torn.prefix(10))")
        let applied = outcomes.filter { $0.live == 1 }
        #expect(applied.count > 0 && applied.count < tenants, "\(applied.count) of \(tenants) tenants applied")

        // Nothing that started more than a second after the halt committed: by the journal (started_at, set when the
        // step is claimed) and by the tenants themselves (the ledger row's applied_at is its transaction's start).
        let lateJournal = try psql(
            control,
            """
            SELECT count(*) FROM flotilla.steps s, (SELECT max(halted_at) AS at FROM flotilla.halts) h
            WHERE s.state = 'applied' AND s.started_at > h.at + interval '1 second'
            """)
        #expect(lateJournal == "0", "steps that started more than 1 s after the halt were applied")
        let lateLedger = applied.filter { ($0.appliedAt ?? 0) > haltedAt.timeIntervalSince1970 + 1 }
        #expect(lateLedger.isEmpty, "tenants whose phase transaction began more than 1 s after the halt: \(lateLedger)")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.steps WHERE state = 'running'") == "0")

        // The journal agrees with the tenants: a step is `applied` exactly where the tenant holds the phase.
        let journalApplied = Set(
            Fixtures.rows(try psql(control, "SELECT 'tenant_' || tenant FROM flotilla.steps WHERE state = 'applied'"))
                .map { $0[0] })
        let ledgerApplied = Set(applied.map(\.schema))
        #expect(
            journalApplied == ledgerApplied,
            "journal applied but not in the tenant: \(journalApplied.subtracting(ledgerApplied).sorted().prefix(10)); in the tenant but not journaled applied: \(ledgerApplied.subtracting(journalApplied).sorted().prefix(10))"
        )

        // For the report: how the halt met the steps in flight.
        let inFlight = Fixtures.rows(
            try psql(
                control,
                """
                SELECT count(*) FILTER (WHERE s.state = 'applied' AND s.finished_at > h.at),
                       count(*) FILTER (WHERE s.state = 'pending' AND s.error LIKE 'stopped by halt%'),
                       coalesce(round(extract(epoch FROM max(s.finished_at) - h.at)::numeric, 3)::text, '-')
                FROM flotilla.steps s, (SELECT max(halted_at) AS at FROM flotilla.halts) h GROUP BY h.at
                """))
        print(
            "[\(name)] listener \(listen): exit after \(String(format: "%.3f", latency)) s; \(applied.count)/\(tenants) applied; "
                + "applied after the halt / stopped by it / last step end after halt (s): \(inFlight.first ?? [])")
        return MidWaveHalt(fleet: fleet, rollout: rollout, latency: latency, haltedAt: haltedAt)
    }

    @Test(.timeLimit(.minutes(10)))
    func haltDuringAWaveStopsTheRolloutWithEveryTenantBeforeOrAfterThePhase() async throws {
        let workspace = try Fixtures.Workspace(prefix: "flotilla-halt1")
        defer { workspace.remove() }
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }

        let result = try await haltMidWave(name: "halt-wave", listen: true, in: workspace, children: children)
        #expect(result.latency < 5, "the rollout exited \(result.latency) s after the halt")
    }

    @Test(.timeLimit(.minutes(10)))
    func haltWithoutTheListenerIsCaughtByTheHaltsTableReads() async throws {
        let workspace = try Fixtures.Workspace(prefix: "flotilla-halt2")
        defer { workspace.remove() }
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }

        let result = try await haltMidWave(name: "halt-nolisten", listen: false, in: workspace, children: children)
        // Only the step-boundary and once-a-second reads of the halts table can see it.
        #expect(result.latency < 2.5, "without LISTEN the rollout exited \(result.latency) s after the halt")
    }

    @Test(.timeLimit(.minutes(10)))
    func haltedFleetRefusesRolloutThenResumeFinishesTheSameRollout() async throws {
        let workspace = try Fixtures.Workspace(prefix: "flotilla-halt3")
        defer { workspace.remove() }
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }

        let name = "halt-resume"
        let tenants = 120
        let change = Fixtures.ChangeFile(phases: [
            .init(name: "first", sleep: 0.1, marker: "marker_first"),
            .init(name: "second", sleep: 0.01, marker: "marker_second"),
        ])
        let fleet = try await Fixtures.Fleet.prepare(
            name: name, shards: 2, tenants: tenants, idPrefix: "r", change: change, in: workspace, canary: 2,
            parallel: 4, perShard: 2)
        let arguments = fleet.rolloutArguments(change)
        let control = fleet.control

        // 1. Halted mid-wave of the first phase.
        let first = try children.start("rollout-1", arguments)
        let busy = try await eventually(within: .seconds(90), every: .milliseconds(20)) {
            !first.isRunning || Fixtures.appliedSteps(control, fleet: name) >= 20
        }
        try #require(
            busy && first.isRunning, "the rollout was not mid-wave when it should be halted: \(first.transcript)")
        let reason = "db-17 replication lag"
        let halt = try await children.run("halt", ["halt", "--fleet", name, "--reason", reason, "--by", "tester"])
        #expect(halt.exitStatus == 0, "\(halt.transcript)")
        #expect(try await first.wait(limit: .seconds(60)) == 3, "\(first.transcript)")
        let id = try psql(control, "SELECT id FROM flotilla.rollouts")
        #expect(try psql(control, "SELECT state FROM flotilla.rollouts") == "halted")
        let appliedWhenHalted = Fixtures.appliedSteps(control, fleet: name)
        #expect(appliedWhenHalted > 0 && appliedWhenHalted < tenants, "\(appliedWhenHalted) applied when halted")

        // 2. Refused while halted: exit 3, the reason on stderr, nothing touched.
        let refused = try await children.run("rollout-2", arguments)
        #expect(refused.exitStatus == 3, "\(refused.transcript)")
        #expect(refused.errors.contains(reason), "stderr should say why: \(refused.transcript)")
        #expect(refused.errors.contains("flotilla resume --fleet \(name)"), "\(refused.transcript)")
        #expect(
            try psql(control, "SELECT count(*) || '|' || string_agg(state, ',') FROM flotilla.rollouts") == "1|halted")
        #expect(Fixtures.appliedSteps(control, fleet: name) == appliedWhenHalted)

        // 3. Lifted.
        let resume = try await children.run("resume", ["resume", "--fleet", name, "--by", "tester"])
        #expect(resume.exitStatus == 0, "\(resume.transcript)")
        #expect(resume.output.contains("lifted 1 halt"), "\(resume.transcript)")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.halts WHERE lifted_at IS NULL") == "0")

        // 4. The same rollout resumes and finishes.
        let third = try await children.run("rollout-3", arguments, limit: .seconds(180))
        #expect(third.exitStatus == 0, "\(third.transcript)")
        #expect(third.output.contains("rollout \(id): resuming"), "\(third.transcript)")
        #expect(
            try psql(control, "SELECT count(*) || '|' || string_agg(id || ':' || state, ',') FROM flotilla.rollouts")
                == "1|\(id):done")
        #expect(
            try psql(control, "SELECT count(*) FILTER (WHERE state = 'applied') || '/' || count(*) FROM flotilla.steps")
                == "\(2 * tenants)/\(2 * tenants)")
        for phase in change.phases {
            let outcomes = try fleet.outcomes(change: change.id, phase: phase.name, marker: phase.marker)
            #expect(outcomes.count == tenants)
            let wrong = outcomes.filter { !($0.marker && $0.live == 1 && $0.total == 1) }
            #expect(wrong.isEmpty, "phase \(phase.name) not exactly once: \(wrong.prefix(10))")
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func haltAllStopsTheRolloutsOfEveryFleetAndStatusListsTheHaltFirst() async throws {
        let workspace = try Fixtures.Workspace(prefix: "flotilla-halt4")
        defer { workspace.remove() }
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }

        let tenants = 160
        let control = try await TestCluster.shared.freshDatabase(prefix: "cp_ctl")
        let change = Fixtures.ChangeFile(phases: [.init(name: "expand", sleep: 0.3, marker: "marker")])
        var fleets: [Fixtures.Fleet] = []
        for (name, prefix) in [("halt-all-east", "e"), ("halt-all-west", "w")] {
            fleets.append(
                try await Fixtures.Fleet.prepare(
                    name: name, shards: 2, tenants: tenants, idPrefix: prefix, change: change, in: workspace,
                    canary: 2, parallel: 4, perShard: 2, policy: "p-\(name)", control: control))
        }
        let (east, west) = (fleets[0], fleets[1])
        var rollouts: [Fixtures.Child] = []
        for fleet in fleets {
            rollouts.append(
                try children.start(
                    "rollout-\(fleet.name)", fleet.rolloutArguments(change, policy: "p-\(fleet.name)")))
        }
        let busy = try await eventually(within: .seconds(90), every: .milliseconds(20)) {
            rollouts.contains { !$0.isRunning }
                || [east, west].allSatisfy { Fixtures.appliedSteps(control, fleet: $0.name) >= 15 }
        }
        try #require(
            busy && rollouts.allSatisfy(\.isRunning),
            "both rollouts should be mid-wave: \(rollouts.map(\.transcript).joined(separator: "\n"))")

        let reason = "global freeze: incident 4711"
        let url = postgresURL(control)
        let halt = try await children.run(
            "halt", ["halt", "--all", "--reason", reason, "--by", "tester", "--control", url])
        #expect(halt.exitStatus == 0, "\(halt.transcript)")
        #expect(halt.output.contains("halted (every fleet)"), "\(halt.transcript)")
        let haltedAt = try Fixtures.newestHaltTime(control)
        for rollout in rollouts {
            #expect(try await rollout.wait(limit: .seconds(60)) == 3, "\(rollout.transcript)")
            let latency = (rollout.exitedAt ?? Date()).timeIntervalSince(haltedAt)
            #expect(latency < 5, "\(rollout.name) exited \(latency) s after the halt")
        }
        #expect(
            try psql(control, "SELECT string_agg(fleet || ':' || state, ',' ORDER BY fleet) FROM flotilla.rollouts")
                == "halt-all-east:halted,halt-all-west:halted")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.steps WHERE state = 'running'") == "0")
        for fleet in [east, west] {
            let outcomes = try fleet.outcomes(change: change.id, phase: "expand", marker: "marker")
            let torn = outcomes.filter { $0.marker != ($0.live == 1) || $0.total > 1 }
            #expect(torn.isEmpty, "\(fleet.name): \(torn.prefix(10))")
            let applied = outcomes.filter { $0.live == 1 }.count
            #expect(applied > 0 && applied < tenants, "\(fleet.name): \(applied) of \(tenants) applied")
        }

        // status --format json: the halt, before the rollouts.
        let status = try await children.run("status", ["status", "--format", "json", "--control", url])
        #expect(status.exitStatus == 0, "\(status.transcript)")
        let json = status.output
        let document = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let halts = document?["halts"] as? [[String: Any]] ?? []
        #expect(halts.count == 1, "\(json)")
        #expect(halts.first?["reason"] as? String == reason, "\(json)")
        #expect(
            halts.first?["fleet"] == nil || halts.first?["fleet"] is NSNull, "a global halt names no fleet: \(json)")
        #expect(halts.first?["halted_by"] as? String == "tester", "\(json)")
        let states = (document?["rollouts"] as? [[String: Any]] ?? []).compactMap { $0["state"] as? String }
        #expect(states == ["halted", "halted"], "\(json)")
        if let haltsKey = json.range(of: "\"halts\""), let rolloutsKey = json.range(of: "\"rollouts\"") {
            #expect(haltsKey.lowerBound < rolloutsKey.lowerBound, "the halts should come first: \(json)")
        } else {
            Issue.record("status --format json lacks halts or rollouts: \(json)")
        }
        let text = try await children.run("status-text", ["status", "--control", url])
        #expect(text.output.hasPrefix("HALT halted (every fleet) by tester"), "\(text.transcript)")

        // A fleet's resume does not lift a global halt; resume --all does.
        let fleetResume = try await children.run("resume-east", ["resume", "--fleet", east.name])
        #expect(fleetResume.exitStatus == 0, "\(fleetResume.transcript)")
        #expect(fleetResume.output.contains("lifted 0 halts"), "\(fleetResume.transcript)")
        #expect(fleetResume.output.contains("still active"), "\(fleetResume.transcript)")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.halts WHERE lifted_at IS NULL") == "1")
        let allResume = try await children.run("resume-all", ["resume", "--all", "--control", url])
        #expect(allResume.exitStatus == 0, "\(allResume.transcript)")
        #expect(allResume.output.contains("lifted 1 halt"), "\(allResume.transcript)")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.halts WHERE lifted_at IS NULL") == "0")
    }

    @Test(.timeLimit(.minutes(10)))
    func haltWithNoRolloutRunningIsRecordedAndResumeLiftsIt() async throws {
        let scene = try await Scene.make(
            "flotilla-halt7", fleet: "halt-idle", tenants: 3, idPrefix: "i", sleep: 0.01, parallel: 2)
        defer { scene.remove() }
        let (children, fleet, change, name, control) = (
            scene.children, scene.fleet, scene.change, scene.fleet.name, scene.fleet.control
        )

        let halt = try await children.run(
            "halt", ["halt", "--fleet", name, "--reason", "maintenance window", "--by", "tester"])
        #expect(halt.exitStatus == 0, "\(halt.transcript)")
        #expect(halt.output.contains("halted (fleet \(name)) by tester"), "\(halt.transcript)")
        #expect(
            try psql(control, "SELECT fleet, reason, halted_by, revert, lifted_at IS NULL FROM flotilla.halts")
                == "\(name)|maintenance window|tester|f|t")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.rollouts") == "0")

        let status = try await children.run("status", ["status", "--fleet", name])
        #expect(status.output.hasPrefix("HALT halted (fleet \(name)) by tester"), "\(status.transcript)")

        let resume = try await children.run("resume", ["resume", "--fleet", name, "--by", "lifter"])
        #expect(resume.exitStatus == 0, "\(resume.transcript)")
        #expect(resume.output.contains("lifted 1 halt"), "\(resume.transcript)")
        #expect(try psql(control, "SELECT lifted_at IS NOT NULL, lifted_by FROM flotilla.halts") == "t|lifter")

        // Lifted: a rollout runs to the end.
        let rollout = try await children.run(
            "rollout", fleet.rolloutArguments(change),
            limit: .seconds(90))
        #expect(rollout.exitStatus == 0, "\(rollout.transcript)")
        #expect(try psql(control, "SELECT state FROM flotilla.rollouts") == "done")
    }
    /// `status --watch` follows a running rollout, report after report, and ends when the rollout does.
    @Test(.timeLimit(.minutes(10)))
    func statusWatchFollowsARolloutToItsEnd() async throws {
        let scene = try await Scene.make(
            "flotilla-watch", fleet: "watch-fleet", tenants: 6, idPrefix: "w", sleep: 0.4, parallel: 1)
        defer { scene.remove() }
        let (children, fleet, change, name, control) = (
            scene.children, scene.fleet, scene.change, scene.fleet.name, scene.fleet.control
        )
        let rollout = try children.start(
            "rollout", fleet.rolloutArguments(change))
        let started = try await eventually(every: .milliseconds(50)) {
            (try? psql(control, "SELECT count(*) FROM flotilla.rollouts")) == "1"
        }
        try #require(started, "\(rollout.transcript)")
        let id = try psql(control, "SELECT id FROM flotilla.rollouts")
        let watch = try await children.run(
            "watch", ["status", id, "--fleet", name, "--watch", "--interval", "0.2"], limit: .seconds(120))
        #expect(watch.exitStatus == 0, "\(watch.transcript)")
        #expect(try psql(control, "SELECT state FROM flotilla.rollouts") == "done")
        // Each report starts with the rollout's line (its audit lines, also naming the rollout, are indented).
        let reports = watch.output.split(separator: "\n").compactMap { line in
            line.hasPrefix("rollout \(id): ") ? line.dropFirst("rollout \(id): ".count) : nil
        }
        #expect(reports.count > 1, "it refreshed while the rollout ran: \(watch.transcript)")
        #expect(reports.last?.hasPrefix("done") == true, "the last report is the end: \(watch.transcript)")
        #expect(reports.dropLast().allSatisfy { !$0.hasPrefix("done") }, "\(watch.transcript)")
    }
    /// Ctrl-C on `flotilla rollout`: the running statements are cancelled (not waited for), their transactions roll
    /// back, the step goes back to pending (a rerun applies it), the lease is released, exit 130.
    @Test(.timeLimit(.minutes(10)))
    func interruptStopsTheRolloutAtOnceAndARerunFinishesIt() async throws {
        let scene = try await Scene.make(
            "flotilla-sigint", fleet: "sigint-fleet", tenants: 4, idPrefix: "q", sleep: 20, parallel: 2)
        defer { scene.remove() }
        let (children, fleet, change, control) = (scene.children, scene.fleet, scene.change, scene.fleet.control)
        // Each step sleeps 20 s: an interrupt that waited for the statements would take that long.
        let arguments = fleet.rolloutArguments(change)
        let first = try children.start("first", arguments)
        let running = try await eventually(every: .milliseconds(50)) {
            Fixtures.journal(control, "SELECT count(*) FROM flotilla.steps WHERE state = 'running'") == "1"
        }
        try #require(running, "\(first.transcript)")
        try await Task.sleep(for: .milliseconds(500))
        let interrupted = ContinuousClock.now
        first.signal(SIGINT)
        let status = try await first.wait(limit: .seconds(60))
        #expect(status == 130, "\(first.transcript)")
        #expect(ContinuousClock.now - interrupted < .seconds(10), "it waited for the statements: \(first.transcript)")
        #expect(first.transcript.contains("stopping"), "\(first.transcript)")
        // Nothing half-done: no tenant has the marker or a ledger row; the step is pending again; no lease.
        let outcomes = try fleet.outcomes(change: change.id, phase: "expand", marker: "marker")
        #expect(outcomes.count == 4 && outcomes.allSatisfy { !$0.marker && $0.total == 0 }, "\(outcomes)")
        #expect(try psql(control, "SELECT count(*) FROM flotilla.steps WHERE state = 'running'") == "0")
        #expect(
            try psql(control, "SELECT state || '|' || coalesce(lease_owner, '') FROM flotilla.rollouts") == "running|")
        #expect(
            try psql(control, "SELECT count(*) FROM flotilla.steps WHERE error LIKE 'interrupted%'") == "1",
            "the interrupted step says so")
    }
    /// A workspace with a one-shard fleet whose tenants are created, a one-phase change (`expand`) whose steps sleep
    /// `sleep` seconds and then create `marker`, and the policy `p` (a canary of the first tenant, then the rest).
    struct Scene {
        let workspace: Fixtures.Workspace
        let children: Fixtures.Children
        let fleet: Fixtures.Fleet
        let change: Fixtures.ChangeFile

        static func make(
            _ prefix: String, fleet name: String, tenants: Int, idPrefix: String, sleep: Double, parallel: Int
        ) async throws -> Scene {
            let workspace = try Fixtures.Workspace(prefix: prefix)
            let children = try Fixtures.Children(workspace: workspace)
            let change = Fixtures.ChangeFile(phases: [.init(name: "expand", sleep: sleep, marker: "marker")])
            let fleet = try await Fixtures.Fleet.prepare(
                name: name, shards: 1, tenants: tenants, idPrefix: idPrefix, change: change, in: workspace, canary: 1,
                parallel: parallel, perShard: parallel)
            return Scene(workspace: workspace, children: children, fleet: fleet, change: change)
        }

        func remove() {
            children.killRemaining()
            workspace.remove()
        }
    }
}
