/// One piece of SQL to lint: a `.sql` file, or the `up`/`down` of one phase of a change file.
public struct LintInput: Sendable {
    /// Path used in findings.
    public var file: String
    public var sql: String
    /// Added to every 1-based line found in `sql` (0 for a `.sql` file).
    public var lineOffset: Int
    /// Added to every column (0 for a `.sql` file; the indent of a YAML block scalar).
    public var columnOffset: Int
    /// Phase name when the SQL comes from a change file.
    public var phase: String?
    /// True when all the statements run inside one transaction block.
    public var inTransaction: Bool
    /// Rules acknowledged for every statement of this input.
    public var ignores: [Acknowledgement]
    /// True when that transaction block is the one Flotilla runs a phase in, with the phase's `verify` and its
    /// ledger row (`transaction: auto`): a `BEGIN`, `COMMIT` or `ROLLBACK` written in the SQL breaks it.
    public var isPhaseTransaction: Bool

    public init(
        file: String, sql: String, lineOffset: Int = 0, columnOffset: Int = 0, phase: String? = nil,
        inTransaction: Bool = true, ignores: [Acknowledgement] = [], isPhaseTransaction: Bool = false
    ) {
        self.file = file
        self.sql = sql
        self.lineOffset = lineOffset
        self.columnOffset = columnOffset
        self.phase = phase
        self.inTransaction = inTransaction
        self.ignores = ignores
        self.isPhaseTransaction = isPhaseTransaction && inTransaction
    }
}
