import FlotillaModel

/// The statements a backfill runs, batch by batch, ranged on its integer key.
public enum BackfillSQL {
    /// `UPDATE t SET … WHERE key > $1 AND key <= $2 AND (where)` — the text `plan` shows.
    public static func describe(_ backfill: Backfill) -> String {
        let condition = backfill.whereClause.map { " AND (\($0))" } ?? ""
        return
            "UPDATE \(backfill.table) SET \(backfill.set) WHERE \(backfill.key) > $1 AND \(backfill.key) <= $1 + \(backfill.batchSize)\(condition)"
            + " -- in batches of \(backfill.batchSize) by \(backfill.key), pause \(backfill.pause.flotillaDescription), one transaction each"
    }
}
