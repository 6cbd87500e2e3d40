import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Several coordinators on one rollout, as real child processes (issue 5): a `flotilla worker` working alongside
/// `flotilla rollout` under the shared caps, and a follower `flotilla rollout` taking over from a leader killed with
/// SIGKILL. Outcomes are read from PostgreSQL with psql.
///
/// Serialized: the cap test samples `pg_stat_activity`, and both depend on timing a busy two-core machine blurs.
@Suite(.serialized)
struct CoordinatorTests {
    typealias Fixtures = ChildProcessFixtures

    /// The pid part of an owner (`host:pid:random`).
    static func ownerPID(_ owner: String) -> Int32? {
        let parts = owner.split(separator: ":")
        return parts.count >= 3 ? Int32(parts[parts.count - 2]) : nil
    }

    @Test(.timeLimit(.minutes(10)))
    func rolloutAndWorkerShareTheRolloutWithinTheCaps() async throws {
        let workspace = try Fixtures.Workspace(prefix: "flotilla-coord1")
        defer { workspace.remove() }
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }

        let name = "coord-pair"
        let tenants = 120
        let change = Fixtures.ChangeFile(phases: [.init(name: "expand", sleep: 0.1, marker: "marker")])
        let fleet = try await Fixtures.Fleet.prepare(
            name: name, shards: 2, tenants: tenants, idPrefix: "c", change: change, in: workspace, canary: 2,
            parallel: 6, perShard: 3)
        let control = fleet.control

        let sampler = try await Fixtures.SleeperSampler.start(
            databases: fleet.shards.map(\.database), every: .milliseconds(50))
        defer { sampler.cancel() }

        let rollout = try children.start(
            "rollout", fleet.rolloutArguments(change))
        // The worker joins as soon as the rollout exists; `--once` leaves only after 2 s without open work, so it
        // waits for the leader to take the lease and start its first slice.
        let leading = try await eventually(within: .seconds(90), every: .milliseconds(20)) {
            guard rollout.isRunning else { return true }
            return Fixtures.journal(control, "SELECT count(*) FROM flotilla.rollouts WHERE state = 'running'") == "1"
        }
        try #require(leading && rollout.isRunning, "the rollout should be running: \(rollout.transcript)")
        let worker = try children.start("worker", ["worker", "--fleet", name, "--once"])

        let rolloutStatus = try await rollout.wait(limit: .seconds(180))
        let workerStatus = try await worker.wait(limit: .seconds(60))
        let peaks = try await sampler.stop()
        #expect(rolloutStatus == 0, "\(rollout.transcript)")
        #expect(workerStatus == 0, "\(worker.transcript)")

        // Every tenant exactly once.
        let outcomes = try fleet.outcomes(change: change.id, phase: "expand", marker: "marker")
        #expect(outcomes.count == tenants)
        let wrong = outcomes.filter { !($0.marker && $0.live == 1 && $0.total == 1) }
        #expect(wrong.isEmpty, "not exactly once: \(wrong.prefix(10))")
        #expect(
            try psql(control, "SELECT count(*) || '|' || string_agg(state, ',') FROM flotilla.rollouts") == "1|done")
        #expect(
            try psql(control, "SELECT count(*) FILTER (WHERE state = 'applied') || '/' || count(*) FROM flotilla.steps")
                == "\(tenants)/\(tenants)")

        // Both coordinators worked it.
        let owners = Fixtures.rows(
            try psql(control, "SELECT owner, count(*) FROM flotilla.steps GROUP BY owner ORDER BY owner"))
        print(
            "[\(name)] steps per owner: \(owners); pg_sleep peaks \(peaks.perDatabase), total \(peaks.total) in \(peaks.samples) samples"
        )
        #expect(owners.count == 2, "steps should be owned by two coordinators: \(owners)")
        #expect(
            Set(owners.compactMap { Self.ownerPID($0[0]) }) == [rollout.pid, worker.pid],
            "owners \(owners) should be the rollout (\(rollout.pid)) and the worker (\(worker.pid))")

        // Caps across both: per shard ≤ per_shard_parallel 3, in total ≤ parallel 6; and the shard cap was reached.
        #expect(peaks.samples > 10, "too few samples of pg_stat_activity: \(peaks.samples)")
        for (database, peak) in peaks.perDatabase {
            #expect(peak <= 3, "\(peak) steps at once on \(database) (per_shard_parallel 3)")
        }
        #expect(peaks.total <= 6, "\(peaks.total) steps at once in all (parallel 6)")
        #expect(peaks.perDatabase.values.max() == 3, "no shard ever ran 3 steps at once: \(peaks.perDatabase)")
    }

    @Test(.timeLimit(.minutes(10)))
    func followerTakesOverWhenTheLeaseHolderIsKilled() async throws {
        let workspace = try Fixtures.Workspace(prefix: "flotilla-coord2")
        defer { workspace.remove() }
        let children = try Fixtures.Children(workspace: workspace)
        defer { children.killRemaining() }

        let name = "coord-takeover"
        let tenants = 320
        // At most 8 at once, 0.15 s each: A alone would need 6 s, so it is mid-wave when killed.
        let change = Fixtures.ChangeFile(phases: [.init(name: "expand", sleep: 0.15, marker: "marker")])
        let fleet = try await Fixtures.Fleet.prepare(
            name: name, shards: 2, tenants: tenants, idPrefix: "k", change: change, in: workspace, canary: 2,
            parallel: 8, perShard: 4)
        let control = fleet.control
        let arguments = fleet.rolloutArguments(change)

        // A leads: it has created the rollout and holds its lease.
        let leader = try children.start("rollout-a", arguments)
        let aStarted = ContinuousClock.now
        let leading = try await eventually(within: .seconds(90), every: .milliseconds(20)) {
            guard leader.isRunning else { return true }
            return Fixtures.journal(
                control, "SELECT count(*) FROM flotilla.rollouts WHERE lease_owner LIKE '%:\(leader.pid):%'") == "1"
        }
        try #require(leading && leader.isRunning, "A should hold the lease: \(leader.transcript)")

        // B, about a second later, follows.
        try await Task.sleep(until: aStarted + .seconds(1))
        let follower = try children.start("rollout-b", arguments)
        let following = try await eventually(within: .seconds(60), every: .milliseconds(20)) {
            !follower.isRunning || follower.output.contains("driven by another coordinator")
        }
        try #require(following && follower.isRunning, "B should follow A: \(follower.transcript)")

        // A dies mid-wave, about two seconds in.
        try await Task.sleep(until: aStarted + .seconds(2))
        try #require(leader.isRunning, "A finished before it could be killed: \(leader.transcript)")
        leader.signal(SIGKILL)
        let killedAt = Date()
        _ = try await leader.wait(limit: .seconds(10))
        #expect(leader.killedBySignal, "\(leader.transcript)")
        let appliedAtKill = Fixtures.appliedSteps(control, fleet: name)
        #expect(appliedAtKill < tenants, "A had finished every tenant before the kill")

        // B takes over and finishes.
        let status = try await follower.wait(limit: .seconds(60))
        let takeover = (follower.exitedAt ?? Date()).timeIntervalSince(killedAt)
        print(
            "[\(name)] \(appliedAtKill)/\(tenants) applied when A was killed; B finished \(String(format: "%.1f", takeover)) s later"
        )
        #expect(status == 0, "\(follower.transcript)")
        #expect(takeover < 40, "B took \(takeover) s after the kill")
        #expect(follower.output.contains("resuming"), "B should say it took over: \(follower.transcript)")

        let outcomes = try fleet.outcomes(change: change.id, phase: "expand", marker: "marker")
        #expect(outcomes.count == tenants)
        let wrong = outcomes.filter { !($0.marker && $0.live == 1 && $0.total == 1) }
        #expect(wrong.isEmpty, "not exactly once: \(wrong.prefix(10))")
        #expect(
            try psql(control, "SELECT count(*) || '|' || string_agg(state, ',') FROM flotilla.rollouts") == "1|done")
        #expect(
            try psql(control, "SELECT count(*) FILTER (WHERE state = 'applied') || '/' || count(*) FROM flotilla.steps")
                == "\(tenants)/\(tenants)")
        #expect(
            try psql(control, "SELECT lease_owner IS NULL FROM flotilla.rollouts") == "t",
            "B should release the lease when done")
        let kinds = Fixtures.rows(try psql(control, "SELECT kind FROM flotilla.events ORDER BY id")).map { $0[0] }
        #expect(kinds.contains("resumed"), "\(kinds)")
        #expect(kinds.last == "done", "\(kinds)")
    }
}
