import FlotillaModel
import FlotillaPostgres
import Logging
import PostgresNIO

/// The history table inside each tenant, `flotilla_history`: what was applied there, with checksums.
/// Schema-per-tenant: in the tenant's schema. Database-per-tenant: in the database's `public` schema.
struct TenantLedger: Sendable {
    static let version = 1
    let table: String
    /// Beside the ledger, `flotilla_backfill`: the last key each unfinished backfill has done, written by the same
    /// statement as its batch, so a batch and its checkpoint commit together or not at all.
    let checkpointTable: String

    init(placement: Tenant.Placement) {
        let schema: String
        switch placement {
        case .schema(let name): schema = quoteIdentifier(name)
        case .database: schema = "public"
        }
        table = schema + ".flotilla_history"
        checkpointTable = schema + ".flotilla_backfill"
    }

    /// Which way a backfill runs: the phase's `set`, or its `revert`.
    enum Direction: String, Sendable {
        case apply
        case revert
    }

    var createCheckpointSQL: String {
        """
        CREATE TABLE IF NOT EXISTS \(checkpointTable) (
            change text NOT NULL,
            phase text NOT NULL,
            direction text NOT NULL,
            last_key bigint NOT NULL,
            rows bigint NOT NULL DEFAULT 0,
            rollout_id text,
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (change, phase, direction)
        )
        """
    }

    /// Creates the checkpoint table if needed and returns the backfill's checkpoint: where a resume starts.
    func checkpoint(
        change: String, phase: String, direction: Direction, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int64? {
        let exists = try await SQLRunner.firstValue(
            "to_regclass('\(checkpointTable.replacingOccurrences(of: "'", with: "''"))') IS NOT NULL",
            on: connection, logger: logger)
        if exists != "true" {
            try await SQLRunner.execute(createCheckpointSQL, on: connection, logger: logger)
            return nil
        }
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL:
                    "SELECT last_key FROM \(checkpointTable) WHERE change = $1 AND phase = $2 AND direction = $3",
                binds: binds(change, phase, direction.rawValue)), logger: logger)
        for try await key in rows.decode(Int64.self) { return key }
        return nil
    }

    /// Forgets a backfill's checkpoint once the phase is recorded (applied or reverted), in that same transaction:
    /// a later run of the phase starts from the beginning. The backfill created the table before.
    func clearCheckpoint(
        change: String, phase: String, direction: Direction, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await SQLRunner.execute(
            PostgresQuery(
                unsafeSQL: "DELETE FROM \(checkpointTable) WHERE change = $1 AND phase = $2 AND direction = $3",
                binds: binds(change, phase, direction.rawValue)), on: connection, logger: logger)
    }

    struct Entry: Sendable {
        var checksum: String
        var rolloutID: String?
    }

    var createSQL: String {
        """
        CREATE TABLE IF NOT EXISTS \(table) (
            id bigserial PRIMARY KEY,
            change text NOT NULL,
            phase text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            duration_ms integer,
            rollout_id text,
            reverted_at timestamptz,
            ledger_version integer NOT NULL DEFAULT \(Self.version)
        )
        """
    }

    /// At most one live row per (change, phase): a phase is never applied twice.
    var indexSQL: String {
        "CREATE UNIQUE INDEX IF NOT EXISTS flotilla_history_live ON \(table) (change, phase) WHERE reverted_at IS NULL"
    }

    func ensure(on connection: PostgresConnection, logger: Logger) async throws {
        let exists = try await SQLRunner.firstValue(
            "to_regclass('\(table.replacingOccurrences(of: "'", with: "''"))') IS NOT NULL", on: connection,
            logger: logger)
        if exists == "true" { return }
        try await create(on: connection, logger: logger)
    }

    /// Creates the ledger table and its index (both `IF NOT EXISTS`).
    func create(on connection: PostgresConnection, logger: Logger) async throws {
        try await SQLRunner.execute(createSQL, on: connection, logger: logger)
        try await SQLRunner.execute(indexSQL, on: connection, logger: logger)
    }

    func liveEntry(change: String, phase: String, on connection: PostgresConnection, logger: Logger) async throws
        -> Entry?
    {
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL:
                    "SELECT checksum, rollout_id FROM \(table) WHERE change = $1 AND phase = $2 AND reverted_at IS NULL",
                binds: binds(change, phase)), logger: logger)
        for try await (checksum, rollout) in rows.decode((String, String?).self) {
            return Entry(checksum: checksum, rolloutID: rollout)
        }
        return nil
    }

    func record(
        change: String, phase: String, checksum: String, durationMilliseconds: Int, rolloutID: String,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        var bindings = binds(change, phase)
        bindings.append(checksum)
        bindings.append(durationMilliseconds)
        bindings.append(rolloutID)
        try await SQLRunner.execute(
            PostgresQuery(
                unsafeSQL:
                    "INSERT INTO \(table) (change, phase, checksum, duration_ms, rollout_id) VALUES ($1, $2, $3, $4, $5)",
                binds: bindings), on: connection, logger: logger)
    }

    func markReverted(change: String, phase: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await SQLRunner.execute(
            PostgresQuery(
                unsafeSQL:
                    "UPDATE \(table) SET reverted_at = now() WHERE change = $1 AND phase = $2 AND reverted_at IS NULL",
                binds: binds(change, phase)), on: connection, logger: logger)
    }

    private func binds(_ values: String...) -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { bindings.append(value) }
        return bindings
    }
}
