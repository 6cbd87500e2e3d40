import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// A rollout whose task is cancelled, run exactly as `flotilla rollout` runs it (`Session.withControlStore` around
/// `Session.withFleet`): it must end, promptly, every time.
struct CancellationTests {
    /// Set once, read from another task.
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() {
            lock.lock()
            value = true
            lock.unlock()
        }
        var isSet: Bool {
            lock.lock()
            defer { lock.unlock() }
            return value
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func cancellingARolloutEndsPromptly() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "cancel")
        let control = try await TestCluster.shared.freshDatabase(prefix: "cancel_ctl")
        try createSchemaTenants(
            shard, schemas: ["tenant_q1"], rows: 5000, extra: "ALTER TABLE tenant_q1.users ADD COLUMN v bigint;")
        let fleet = {
            var fleet = makeFleet(
                name: "cancel-fleet", shards: [("a", shard)], tenants: [schemaTenant("q1", shard: "a")])
            fleet.control = postgresURL(control)
            return fleet
        }()
        // One long backfill, and many idle workers claiming steps from the journal while it runs.
        let policy = try parsePolicy(
            """
            policy: wide
            waves:
              - {name: all, select: {remaining: true}}
            parallel: 16
            per_shard_parallel: 16
            """)
        var configured = try await Session.open(
            fleet: fleet, control: nil, environment: [:], logger: engineTestLogger)
        // The whole suite shares two cores: the control store may take seconds to answer.
        configured.controlConnectTimeout = .seconds(30)
        let session = configured
        for iteration in 1...8 {
            let change = try parseChange(
                """
                change: 0001_fill_\(iteration)
                phases:
                  - name: fill
                    backfill: {table: users, set: "v = id", batch_size: 10, pause: 20ms}
                """)
            let plan = try makePlan(fleet, change, policy)
            let ended = Flag()
            let run = Task {
                defer { ended.set() }
                _ = try await session.withControlStore { store in
                    try await session.withFleet(fleet, deadlines: testDeadlines) { connections in
                        try await RolloutEngine(store: store, connections: connections, logger: engineTestLogger)
                            .run(change: change, policy: policy, plan: plan)
                    }
                }
            }
            // Generous: the whole suite shares two cores and one PostgreSQL.
            let started = try await eventually(within: .seconds(120), every: .milliseconds(20)) {
                if ended.isSet { return true }
                // The backfill's checkpoint, in the tenant beside its ledger (the table appears with the first batch).
                let text = try? psql(
                    shard,
                    "SELECT coalesce(max(last_key), 0) FROM tenant_q1.flotilla_backfill WHERE change = '\(change.id)'")
                return (Int(text ?? "") ?? 0) > 0
            }
            #expect(started, "iteration \(iteration): the backfill never started")
            if ended.isSet {
                Issue.record("iteration \(iteration): the rollout ended before it was cancelled: \(await run.result)")
                return
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...60)))
            run.cancel()
            // Not `await run.value`: a run that never ends would hang the whole test process.
            // A hang never ends; a slow machine (the whole suite starts at once on two cores) may take a while.
            let finished = try await eventually(within: .seconds(90), every: .milliseconds(20)) { ended.isSet }
            #expect(finished, "iteration \(iteration): the cancelled rollout had not ended 90 s after Task.cancel()")
            if !finished { return }
            // It stopped cleanly: its lease is released, no step is left claimed or running, and the tenant's rows
            // are either filled by a committed batch (up to the checkpoint) or untouched.
            let lease = try psql(
                control,
                "SELECT coalesce(lease_owner, '') FROM flotilla.rollouts WHERE change = '\(change.id)'")
            #expect(lease == "", "iteration \(iteration): the lease is still held by \(lease)")
            let steps = try psql(
                control,
                "SELECT s.state FROM flotilla.steps s JOIN flotilla.rollouts r ON r.id = s.rollout_id WHERE r.change = '\(change.id)'"
            )
            #expect(steps == "pending", "iteration \(iteration): step \(steps)")
            let checkpoint =
                Int(
                    try psql(
                        shard,
                        "SELECT coalesce(max(last_key), 0) FROM tenant_q1.flotilla_backfill WHERE change = '\(change.id)'"
                    ))
                ?? -1
            let filled = try psql(shard, "SELECT count(*) FROM tenant_q1.users WHERE v IS NOT NULL AND v = id")
            let filledUpTo = try psql(shard, "SELECT coalesce(max(id), 0) FROM tenant_q1.users WHERE v IS NOT NULL")
            // The checkpoint commits with its batch: exactly the rows up to it are filled.
            #expect(Int(filledUpTo) ?? -1 == checkpoint, "iteration \(iteration): rows up to \(checkpoint) committed")
            #expect(filled == filledUpTo, "iteration \(iteration): filled rows form a prefix of the key range")
            _ = try psql(shard, "UPDATE tenant_q1.users SET v = NULL")
        }
    }
}
