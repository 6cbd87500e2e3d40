/// The zero-downtime strategies a finding can ask for, in the words the docs use.
enum Strategy {
    static let direct = "direct deployment"
    static let multiPhase = "multi-phase approach"
    static let alias = "alias pattern"
    static let deprecation = "deprecation pattern"
    static let shadowColumn = "shadow column pattern"
    static let onlineIndex = "online index creation"
    static let validateThenEnforce = "validation then enforcement"
    static let backfill = "backfill phase"
    /// The `CONCURRENTLY` form of the statement, in a phase with `transaction: none`.
    static let concurrently = "concurrent form"
    static let noOnlinePath = "no online path"
}
