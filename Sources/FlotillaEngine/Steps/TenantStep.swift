import FlotillaLint
import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// One phase on one tenant: its own session, its own search_path or database, the policy's timeouts, a
/// transaction-scoped advisory lock per (fleet, tenant), and the phase's SQL with its ledger row in one transaction
/// where PostgreSQL allows.
struct TenantStep: Sendable {
    enum Outcome: Sendable, Equatable {
        case applied(milliseconds: Int)
        /// The ledger already holds this phase with the same checksum.
        case alreadyApplied
        case reverted(milliseconds: Int)
        /// There was nothing to revert.
        case notApplied
    }

    let fleet: String
    let change: String
    let phase: Phase
    let tenant: Tenant
    let policy: Policy
    let rolloutID: String
    let store: ControlStore
    let logger: Logger
    var monitor: HaltMonitor? = nil
    /// Waits while the tenant's shard is throttled (`throttle.waitUntilClear(shard: tenant.shard)`), e.g. between a
    /// backfill's batches; `.open` without a `throttle:` in the policy.
    var throttle: ThrottleGate = .open

    var ledger: TenantLedger { TenantLedger(placement: tenant.placement) }

    func failure(_ message: String, sqlState: String? = nil) -> StepError {
        StepError(tenant: tenant.id, shard: tenant.shard, phase: phase.name, sqlState: sqlState, message: message)
    }

    /// Opens a transaction in two round trips — BEGIN, then one SELECT that sets the transaction-local timeouts,
    /// application_name and the tenant's search_path, takes the tenant's advisory lock and says whether the tenant's
    /// schema exists — runs `body`, and commits. Any error rolls the transaction back. Few round trips matter: a
    /// transaction may hold locks the application waits for.
    func inTransaction<T: Sendable>(_ connection: PostgresConnection, _ body: () async throws -> T) async throws -> T {
        try await SQLRunner.execute("BEGIN", on: connection, logger: logger)
        do {
            var schema = ""
            if case .schema(let name) = tenant.placement { schema = name }
            let open: PostgresQuery = """
                SELECT set_config('lock_timeout', \("\(policy.lockTimeout.milliseconds)ms"), true),
                       set_config('statement_timeout', \("\(policy.statementTimeout.milliseconds)ms"), true),
                       set_config('application_name', 'flotilla', true),
                       CASE WHEN \(schema) <> '' THEN set_config('search_path', \(quoteIdentifier(schema)), true) END,
                       pg_advisory_xact_lock(hashtext(\("flotilla:" + fleet)), hashtext(\(tenant.id)))::text,
                       (\(schema) = '' OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = \(schema))),
                       to_regclass(\(ledger.table)) IS NOT NULL
                """
            let rows = try await connection.query(open, logger: logger)
            var (exists, ledgerExists) = (false, false)
            for try await row in rows {
                let columns = try row.decode((String?, String?, String?, String?, String?, Bool, Bool).self)
                (exists, ledgerExists) = (columns.5, columns.6)
            }
            guard exists else { throw failure("schema \(schema) does not exist on shard \(tenant.shard)") }
            let result = try await Self.$ledgerExists.withValue(ledgerExists) { try await body() }
            // A halt that came in while the statements ran: roll back instead of committing.
            try await checkHalt()
            try await SQLRunner.execute("COMMIT", on: connection, logger: logger)
            return result
        } catch {
            await SQLRunner.cleanUp("ROLLBACK", on: connection, after: error, logger: logger)
            throw error
        }
    }

    /// Throws when a halt is in force. `pg_cancel_backend` only stops a running statement, so the step also looks
    /// before each statement and before it commits.
    /// A halt, or the run being cancelled (Ctrl-C), stops the step before its next statement and before COMMIT.
    func checkHalt() async throws {
        if let monitor, let halt = await monitor.halt { throw HaltedError(halt: halt) }
        try Task.checkCancellation()
    }

    /// Runs phase SQL statement by statement, stopping at a halt.
    func runStatements(_ sql: String, on connection: PostgresConnection) async throws {
        for statement in SQLRunner.statements(in: sql) {
            try await checkHalt()
            try await SQLRunner.execute(statement, on: connection, logger: logger)
        }
    }

    func checkTenantExists(_ connection: PostgresConnection) async throws {
        guard case .schema(let schema) = tenant.placement else { return }
        let rows = try await connection.query(
            "SELECT 1 FROM pg_namespace WHERE nspname = \(schema)", logger: logger)
        for try await _ in rows { return }
        throw failure("schema \(schema) does not exist on shard \(tenant.shard)")
    }

    /// Whether the tenant has its ledger table, as `inTransaction`'s first query saw it (nil: not known here).
    @TaskLocal static var ledgerExists: Bool? = nil

    /// Checks the ledger: nil when the phase still has to run; `.alreadyApplied` when it ran; drift is an error.
    func ledgerState(_ connection: PostgresConnection) async throws -> Outcome? {
        switch Self.ledgerExists {
        case true?:
            break
        case false?:
            // Seen missing under the tenant's lock: created now, and empty, so there is nothing to look up.
            try await ledger.create(on: connection, logger: logger)
            return nil
        case nil:
            try await ledger.ensure(on: connection, logger: logger)
        }
        guard let entry = try await ledger.liveEntry(change: change, phase: phase.name, on: connection, logger: logger)
        else { return nil }
        if entry.checksum != phase.checksum {
            throw failure(
                "drift: the ledger holds \(change)/\(phase.name) with checksum \(entry.checksum.prefix(12)) but the definition's is \(phase.checksum.prefix(12)); the phase was changed after it was applied here. Restore the definition, or revert the phase on this tenant first"
            )
        }
        return .alreadyApplied
    }

    // MARK: apply

    func apply(_ connection: PostgresConnection) async throws -> Outcome {
        let clock = ContinuousClock()
        let started = clock.now
        // `inTransaction` checks that the tenant's schema exists as it opens (a backfill opens with one too).
        if phase.backfill != nil {
            return try await applyBackfill(connection, started: started)
        }
        let upSQL = phase.up?.sql ?? ""
        if phase.transaction == .none || SQLRunner.needsNoTransaction(upSQL) {
            try await checkTenantExists(connection)
            return try await applyWithoutTransaction(connection, started: started)
        }
        return try await inTransaction(connection) {
            if let state = try await ledgerState(connection) { return state }
            try await runStatements(upSQL, on: connection)
            try await verify(connection)
            let milliseconds = Int((clock.now - started).milliseconds)
            try await ledger.record(
                change: change, phase: phase.name, checksum: phase.checksum, durationMilliseconds: milliseconds,
                rolloutID: rolloutID, on: connection, logger: logger)
            return .applied(milliseconds: milliseconds)
        }
    }

    func verify(_ connection: PostgresConnection) async throws {
        guard let verify = phase.verify else { return }
        let value = try await SQLRunner.firstValue(
            verify.sql.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ";"))),
            on: connection, logger: logger)
        guard value == "true" else {
            throw failure(
                "verify failed: \(verify.sql.trimmingCharacters(in: .whitespacesAndNewlines)) returned \(value ?? "no row")"
            )
        }
    }

    /// `CREATE INDEX CONCURRENTLY` and friends: each statement on its own, made idempotent, an INVALID index left
    /// by a failed try dropped first; then the ledger row. A session-level advisory lock guards the tenant.
    func applyWithoutTransaction(_ connection: PostgresConnection, started: ContinuousClock.Instant) async throws
        -> Outcome
    {
        let lockKey: PostgresQuery = "SELECT pg_advisory_lock(hashtext(\("flotilla:" + fleet)), hashtext(\(tenant.id)))"
        let unlockKey: PostgresQuery =
            "SELECT pg_advisory_unlock(hashtext(\("flotilla:" + fleet)), hashtext(\(tenant.id)))"
        try await SQLRunner.execute(
            "SET lock_timeout = '\(policy.lockTimeout.milliseconds)ms'", on: connection, logger: logger)
        try await SQLRunner.execute(
            "SET statement_timeout = '\(policy.statementTimeout.milliseconds)ms'", on: connection, logger: logger)
        if case .schema(let schema) = tenant.placement {
            try await SQLRunner.execute("SET search_path = \(quoteIdentifier(schema))", on: connection, logger: logger)
        }
        do {
            try await SQLRunner.execute(lockKey, on: connection, logger: logger)
            let outcome = try await applyStatementsWithoutTransaction(connection, started: started)
            try await SQLRunner.execute(unlockKey, on: connection, logger: logger)
            try await SQLRunner.execute(Self.resetSettings, on: connection, logger: logger)
            return outcome
        } catch {
            await SQLRunner.cleanUp(unlockKey, on: connection, after: error, logger: logger)
            await SQLRunner.cleanUp(Self.resetSettings, on: connection, after: error, logger: logger)
            throw error
        }
    }

    private func applyStatementsWithoutTransaction(_ connection: PostgresConnection, started: ContinuousClock.Instant)
        async throws -> Outcome
    {
        if let state = try await ledgerState(connection) { return state }
        for statement in SQLRunner.statements(in: phase.up?.sql ?? "") {
            try Task.checkCancellation()
            try await checkHalt()
            let (sql, index) = SQLRunner.idempotent(statement)
            if let index {
                // A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind: drop it before trying again.
                let invalid = try await SQLRunner.firstValue(
                    "SELECT c.oid IS NOT NULL FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = '\(index.replacingOccurrences(of: "'", with: "''").replacingOccurrences(of: "\"", with: ""))' AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid",
                    on: connection, logger: logger)
                if invalid == "true" {
                    try await SQLRunner.execute(
                        "DROP INDEX CONCURRENTLY IF EXISTS \(index)", on: connection, logger: logger)
                }
            }
            try await SQLRunner.execute(sql, on: connection, logger: logger)
        }
        try await SQLRunner.execute("BEGIN", on: connection, logger: logger)
        do {
            try await verify(connection)
            let milliseconds = Int((ContinuousClock.now - started).milliseconds)
            try await ledger.record(
                change: change, phase: phase.name, checksum: phase.checksum, durationMilliseconds: milliseconds,
                rolloutID: rolloutID, on: connection, logger: logger)
            try await SQLRunner.execute("COMMIT", on: connection, logger: logger)
            return .applied(milliseconds: milliseconds)
        } catch {
            await SQLRunner.cleanUp("ROLLBACK", on: connection, after: error, logger: logger)
            throw error
        }
    }

    // MARK: revert

    /// Marks the ledger row reverted and forgets the revert backfill's checkpoint, in the caller's transaction.
    func markReverted(_ connection: PostgresConnection) async throws {
        try await ledger.markReverted(change: change, phase: phase.name, on: connection, logger: logger)
        if phase.backfill?.revert != nil {
            try await ledger.clearCheckpoint(
                change: change, phase: phase.name, direction: .revert, on: connection, logger: logger)
        }
    }

    /// Runs the phase's `down` (or the backfill's `revert`) and marks the ledger row reverted, in one transaction.
    func revert(_ connection: PostgresConnection) async throws -> Outcome {
        // A revert runs to its end, also when a halt asked for it (`halt --revert`).
        if monitor != nil {
            var unhaltable = self
            unhaltable.monitor = nil
            return try await unhaltable.revert(connection)
        }
        let started = ContinuousClock.now
        let applied = try await inTransaction(connection) {
            try await ledger.ensure(on: connection, logger: logger)
            return try await ledger.liveEntry(change: change, phase: phase.name, on: connection, logger: logger) != nil
        }
        guard applied else { return .notApplied }
        if let backfill = phase.backfill, let revertSet = backfill.revert {
            try await runBatches(connection, backfill: backfill, set: revertSet, condition: nil, direction: .revert)
        }
        let downSQL = phase.down?.sql ?? ""
        if !downSQL.isEmpty, phase.transaction == .none || SQLRunner.needsNoTransaction(downSQL) {
            // BEGIN patterns: in the tenant's search_path and under the policy's timeouts (TenantStep+Session.swift);
            // without them a schema tenant's DROP INDEX CONCURRENTLY IF EXISTS looked in public and dropped nothing.
            try await withSessionSettings(connection) {
                for statement in SQLRunner.statements(in: downSQL) {
                    try await SQLRunner.execute(SQLRunner.idempotent(statement).sql, on: connection, logger: logger)
                }
            }
            // END patterns
            return try await inTransaction(connection) {
                try await markReverted(connection)
                return .reverted(milliseconds: Int((ContinuousClock.now - started).milliseconds))
            }
        }
        return try await inTransaction(connection) {
            guard try await ledger.liveEntry(change: change, phase: phase.name, on: connection, logger: logger) != nil
            else { return .notApplied }
            if !downSQL.isEmpty { try await SQLRunner.run(downSQL, on: connection, logger: logger) }
            try await markReverted(connection)
            return .reverted(milliseconds: Int((ContinuousClock.now - started).milliseconds))
        }
    }
}
