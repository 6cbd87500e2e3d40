import FlotillaModel
import FlotillaSQL

/// The statement a backfill runs batch by batch, ranged on its integer key: generated here once, for the engine,
/// which runs it, and for `plan`, which shows it.
public enum BackfillSQL {
    /// Where a tenant with a database of its own keeps its backfill checkpoints (beside its `flotilla_history`); a
    /// tenant in a schema keeps them in `flotilla_backfill` of that schema.
    public static let databaseCheckpointTable = "public.flotilla_backfill"

    /// One batch and its checkpoint in one statement, hence one transaction: a coordinator killed at any point leaves
    /// either both or neither.
    ///
    /// It updates, with `set`, the next `$2` rows of the backfill's table whose key is above `$1` (and that match
    /// `condition`), in key order, and saves the last key done and the rows done in `checkpointTable` for change
    /// `$3`, phase `$4`, direction `$5` (`apply` or `revert`) and rollout `$6`. It returns one row: the last key done
    /// (NULL when no row was left), the rows done, how many sessions wait on the batch's row locks (sampled before
    /// it commits), and whether the checkpoint was saved. Table and key are quoted identifiers; `set`, `condition`
    /// and `checkpointTable` are SQL as given.
    ///
    /// `= ANY (ARRAY(…))` makes PostgreSQL fetch the batch's rows by the key's index: with `IN (SELECT …)` it chose a
    /// hash join over a scan of the whole table, for every batch.
    public static func batchStatement(
        backfill: Backfill, set: String, condition: String?, checkpointTable: String
    ) -> String {
        let table = quoteIdentifier(backfill.table)
        let key = quoteIdentifier(backfill.key)
        let filter = condition.map { " AND (\($0))" } ?? ""
        return """
            WITH batch AS (
                UPDATE \(table) SET \(set)
                WHERE \(key) = ANY (ARRAY(SELECT \(key) FROM \(table) WHERE \(key) > $1\(filter) ORDER BY \(key) LIMIT $2 FOR UPDATE))
                RETURNING \(key)
            ), done AS (
                SELECT max(\(key))::bigint AS last, count(*)::bigint AS n FROM batch
            ), saved AS (
                INSERT INTO \(checkpointTable) AS c (change, phase, direction, last_key, rows, rollout_id)
                SELECT $3, $4, $5, last, n, $6 FROM done WHERE n > 0
                ON CONFLICT (change, phase, direction) DO UPDATE SET last_key = EXCLUDED.last_key,
                    rows = c.rows + EXCLUDED.rows, rollout_id = EXCLUDED.rollout_id, updated_at = clock_timestamp()
                RETURNING 1
            )
            SELECT last, n,
                (SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid)))::bigint,
                (SELECT count(*) FROM saved)::bigint
            FROM done
            """
    }

    /// What `plan` shows for a backfill: the statement each batch of the phase runs, exactly as the engine runs it in
    /// a tenant with a database of its own (checkpoints in ``databaseCheckpointTable``), after comment lines on what
    /// the binds are and how the batches go; then, when the backfill has a `revert`, the same for reverting the phase.
    public static func describe(_ backfill: Backfill) -> String {
        let checkpointTable = databaseCheckpointTable
        let pause = backfill.pause.flotillaDescription
        let sizing = backfill.sizing
        let size =
            sizing.target == nil
            ? "at most \(sizing.maximum), smaller while batches hold their row locks too long"
            : sizing.description
        var parts = [
            comment(
                "Each batch is this one statement, hence one transaction: it updates the next rows in key order and "
                    + "saves the last key done in the tenant's flotilla_backfill (\(checkpointTable) in a tenant's own "
                    + "database, as here; in its schema for a tenant in a schema), so a resume continues after it. "
                    + "Batches repeat until one updates no row, \(pause) apart (longer while sessions wait on a "
                    + "batch's row locks); the checkpoint is forgotten once the phase is recorded."),
            comment(
                "Binds: $1 last key done (the checkpoint; the smallest bigint at first), $2 batch size (\(size)), "
                    + "$3 change, $4 phase, $5 direction ('apply'), $6 rollout id."),
            batchStatement(
                backfill: backfill, set: backfill.set, condition: backfill.whereClause,
                checkpointTable: checkpointTable),
        ]
        if let revert = backfill.revert {
            parts += [
                comment(
                    "Revert: before the phase's down, batches like these set the phase's revert on every row (no "
                        + "where), with the same binds but $5 direction ('revert') and a checkpoint of their own."),
                batchStatement(backfill: backfill, set: revert, condition: nil, checkpointTable: checkpointTable),
            ]
        }
        return parts.joined(separator: "\n")
    }

    /// `-- ` lines of `text`, wrapped at about 110 columns.
    static func comment(_ text: String) -> String { sqlComment(text) }
}
