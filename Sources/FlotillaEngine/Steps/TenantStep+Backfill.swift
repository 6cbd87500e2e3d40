import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import Foundation
import PostgresNIO

/// A backfill phase on one tenant: keyset batches with their checkpoint in the tenant.
extension TenantStep {
    /// Batches by key, each its own short transaction that also saves the last key done as the backfill's
    /// checkpoint in the tenant (`flotilla_backfill`), so a resume continues after it and no row is written twice.
    /// The ledger row is written, and the checkpoint forgotten, when the last batch is done.
    func applyBackfill(_ connection: PostgresConnection, started: ContinuousClock.Instant) async throws -> Outcome {
        guard let backfill = phase.backfill else { return .notApplied }
        let state = try await inTransaction(connection) { try await ledgerState(connection) }
        if let state { return state }
        try await runBatches(
            connection, backfill: backfill, set: backfill.set, condition: backfill.whereClause, direction: .apply)
        return try await inTransaction(connection) {
            if let state = try await ledgerState(connection) { return state }
            if let up = phase.up { try await runStatements(up.sql, on: connection) }
            try await verify(connection)
            let milliseconds = Int((ContinuousClock.now - started).milliseconds)
            try await ledger.record(
                change: change, phase: phase.name, checksum: phase.checksum, durationMilliseconds: milliseconds,
                rolloutID: rolloutID, on: connection, logger: logger)
            try await ledger.clearCheckpoint(
                change: change, phase: phase.name, direction: .apply, on: connection, logger: logger)
            return .applied(milliseconds: milliseconds)
        }
    }

    func runBatches(
        _ connection: PostgresConnection, backfill: Backfill, set: String, condition: String?,
        direction: TenantLedger.Direction
    )
        async throws
    {
        // BEGIN patterns: batch size and pauses come from BackfillThrottle (batches sized by target_batch_time, or
        // smaller when one holds its row locks too long; longer pauses while sessions wait on them); see
        // Steps/BackfillThrottle.swift and FlotillaModel's BatchSizing.
        // The batch and its checkpoint in one statement, hence one transaction: a coordinator killed at any point
        // leaves either both or neither. $3…$6 name the checkpoint row. `flotilla plan` shows this same statement.
        let sql = BackfillSQL.batchStatement(
            backfill: backfill, set: set, condition: condition, checkpointTable: ledger.checkpointTable)
        // Each batch is one statement, hence its own transaction (autocommit): one round trip to the tenant and one
        // to the journal per batch. The session carries the tenant's search_path and timeouts, and holds the
        // tenant's advisory lock (session-level) for the whole backfill.
        let lock: PostgresQuery = "SELECT pg_advisory_lock(hashtext(\("flotilla:" + fleet)), hashtext(\(tenant.id)))"
        let unlock: PostgresQuery =
            "SELECT pg_advisory_unlock(hashtext(\("flotilla:" + fleet)), hashtext(\(tenant.id)))"
        let throttle = try await withSessionSettings(connection) { () -> BackfillThrottle in
            do {
                // Inside the `do`: an interrupted lock request still gets its unlock (a harmless no-op if not held).
                try await SQLRunner.execute(lock, on: connection, logger: logger)
                // Read under the tenant's lock: no other session is running this backfill now.
                let start = try await ledger.checkpoint(
                    change: change, phase: phase.name, direction: direction, on: connection, logger: logger)
                let throttle = try await runBatchStatements(
                    connection, sql: sql, backfill: backfill, direction: direction, from: start)
                try await SQLRunner.execute(unlock, on: connection, logger: logger)
                return throttle
            } catch {
                await SQLRunner.cleanUp(unlock, on: connection, after: error, logger: logger)
                throw error
            }
        }
        try? await store.event(
            rolloutID, "backfill-finished", phase: phase.name, tenant: tenant.id, throttle.summary)
        // END patterns
    }

    /// The batches of a backfill, on a session already set up by `runBatches`; returns the throttle's record.
    private func runBatchStatements(
        _ connection: PostgresConnection, sql: String, backfill: Backfill, direction: TenantLedger.Direction,
        from start: Int64?
    )
        async throws -> BackfillThrottle
    {
        var throttle = BackfillThrottle(backfill)
        var last = start ?? Int64.min
        while true {
            try Task.checkCancellation()
            if let monitor, let halt = await monitor.halt { throw HaltedError(halt: halt) }
            var binds = PostgresBindings()
            binds.append(last)
            binds.append(Int64(throttle.batchSize))
            binds.append(change)
            binds.append(phase.name)
            binds.append(direction.rawValue)
            binds.append(rolloutID)
            let started = ContinuousClock.now
            // Sessions still waiting on the batch's row locks after the UPDATE (the last column) slow the next ones.
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            var result: (maxKey: Int64?, count: Int64, blocked: Int) = (nil, 0, 0)
            for try await (maxKey, count, blocked, _) in rows.decode((Int64?, Int64, Int64, Int64).self) {
                result = (maxKey, count, Int(blocked))
            }
            let wait = throttle.record(
                batch: ContinuousClock.now - started, rows: result.count, blocked: result.blocked)
            guard result.count > 0, let maxKey = result.maxKey else { break }
            last = maxKey
            if wait > .zero { try await Task.sleep(for: wait) }
            // The shard's throttle (a policy's `throttle:` signals) pauses the backfill between batches too.
            let paused = ContinuousClock.now
            try await waitForShard()
            throttle.recordThrottled(ContinuousClock.now - paused)
            throttle.startingBatch()
        }
        return throttle
    }

    /// Returns once the tenant's shard is not throttled; a halt or a cancellation ends the wait with its error.
    private func waitForShard() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await throttle.waitUntilClear(shard: tenant.shard) }
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(200))
                    if let monitor, let halt = await monitor.halt { throw HaltedError(halt: halt) }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}
