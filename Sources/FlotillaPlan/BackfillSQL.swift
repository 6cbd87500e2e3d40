import FlotillaModel

/// The statements a backfill runs, batch by batch, ranged on its integer key.
public enum BackfillSQL {
    /// What each batch runs, as `plan` shows it: keyset batches of `batch_size` rows, one transaction each.
    public static func describe(_ backfill: Backfill) -> String {
        let condition = backfill.whereClause.map { " AND (\($0))" } ?? ""
        return
            "UPDATE \(backfill.table) SET \(backfill.set) WHERE \(backfill.key) IN (SELECT \(backfill.key) FROM \(backfill.table) WHERE \(backfill.key) > $last\(condition) ORDER BY \(backfill.key) LIMIT \(backfill.batchSize) FOR UPDATE)"
            + " -- repeated until no row is left, one transaction per batch, pause \(backfill.pause.flotillaDescription); $last is the checkpoint"
    }
}
