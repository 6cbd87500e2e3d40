/// A zero-downtime pattern a change names with `pattern:` instead of writing its phases out. Flotilla expands it
/// into phases with `up` and `down` SQL, backfills, verifies and gates (`flotilla plan` shows them), each phase
/// starting with a preflight that checks the tenant has what the pattern needs.
///
/// ```yaml
/// change: 0007_phone_rename
/// pattern:
///   rename-column: {table: users, column: phone_number, to: phone}
/// ```
public enum Pattern: Sendable, Hashable {
    /// A column: nullable in one phase; NOT NULL through backfill, CHECK … NOT VALID, VALIDATE, SET NOT NULL.
    case addColumn(AddColumn)
    /// The alias pattern: a new name kept in sync with the old one in both directions, then the old one dropped.
    case renameColumn(RenameColumn)
    /// The deprecation pattern: retired behind an approval gate, then dropped.
    case dropColumn(DropColumn)
    /// The shadow column pattern: a column of the new type kept in sync, backfilled, switched in, then contracted.
    case changeType(ChangeType)
    /// Online index creation with CREATE INDEX CONCURRENTLY.
    case addIndex(AddIndex)
    /// A CHECK constraint: NOT VALID, then VALIDATE.
    case addConstraint(AddConstraint)
    /// A foreign key: NOT VALID, then VALIDATE.
    case addForeignKey(AddForeignKey)

    /// The names `pattern:` takes; `add-column-not-null` and `shadow-column` are other names for `add-column` with
    /// `not_null: true` and for `change-type`.
    public static let names = [
        "add-column", "add-column-not-null", "rename-column", "drop-column", "change-type", "shadow-column",
        "add-index",
        "add-constraint", "add-foreign-key",
    ]

    /// The pattern's name.
    public var name: String {
        switch self {
        case .addColumn: return "add-column"
        case .renameColumn: return "rename-column"
        case .dropColumn: return "drop-column"
        case .changeType: return "change-type"
        case .addIndex: return "add-index"
        case .addConstraint: return "add-constraint"
        case .addForeignKey: return "add-foreign-key"
        }
    }

    /// What the pattern does, in a sentence.
    public var summary: String {
        switch self {
        case .addColumn(let p): return p.summary
        case .renameColumn(let p): return p.summary
        case .dropColumn(let p): return p.summary
        case .changeType(let p): return p.summary
        case .addIndex(let p): return p.summary
        case .addConstraint(let p): return p.summary
        case .addForeignKey(let p): return p.summary
        }
    }

    /// The phases the pattern runs, in order; generated SQL points at `location` (the `pattern:` node).
    public func phases(at location: SourceLocation) -> [Phase] {
        let site = PatternSite(pattern: name, location: location)
        switch self {
        case .addColumn(let p): return p.phases(site)
        case .renameColumn(let p): return p.phases(site)
        case .dropColumn(let p): return p.phases(site)
        case .changeType(let p): return p.phases(site)
        case .addIndex(let p): return p.phases(site)
        case .addConstraint(let p): return p.phases(site)
        case .addForeignKey(let p): return p.phases(site)
        }
    }

    /// How a pattern's backfill runs: keyset batches on an integer key, each its own short transaction.
    public struct Batches: Sendable, Hashable {
        /// The integer column batches are ranged on (default `id`).
        public var key: String
        public var size: Int
        /// Pause between batches; the engine waits longer on its own while lock waits rise.
        public var pause: Duration
        /// `min_batch`, `max_batch` and `target_batch_time` as written (nil when not); see ``BatchSizing``.
        public var minBatch: Int?
        public var maxBatch: Int?
        public var targetBatchTime: Duration?

        public init(
            key: String = "id", size: Int = 1000, pause: Duration = .zero, minBatch: Int? = nil,
            maxBatch: Int? = nil, targetBatchTime: Duration? = nil
        ) {
            self.key = key
            self.size = size
            self.pause = pause
            self.minBatch = minBatch
            self.maxBatch = maxBatch
            self.targetBatchTime = targetBatchTime
        }

        func backfill(table: String, set: String, where condition: String?, revert: String? = nil) -> Backfill {
            Backfill(
                table: table, set: set, whereClause: condition, key: key, batchSize: size, pause: pause, revert: revert,
                minBatch: minBatch, maxBatch: maxBatch, targetBatchTime: targetBatchTime)
        }
    }
}

/// Where a pattern was written, so its phases and their SQL point at the `pattern:` node.
struct PatternSite {
    var pattern: String
    var location: SourceLocation

    /// SQL whose line 1, column 1 is the pattern node.
    func sql(_ statements: [String]) -> SQLText {
        SQLText(PatternSQL.script(statements), lineOffset: location.line - 1, columnOffset: location.column - 1)
    }

    func phase(
        _ name: String, up: [String]? = nil, down: [String]? = nil, verify: String? = nil, backfill: Backfill? = nil,
        gate: String? = nil, reversible: Bool = true, transaction: Phase.TransactionMode = .auto,
        ignore: [LintAcknowledgement] = []
    ) -> Phase {
        var upSQL = up
        if let gate {
            // `plan` shows the gate's message with the phase's SQL (a comment runs nothing, even after a backfill).
            upSQL = [PatternSQL.comment("gate: " + gate)] + (up ?? [])
        }
        return Phase(
            name: name, up: upSQL.map(sql), down: down.map(sql),
            verify: verify.map { SQLText($0, lineOffset: location.line - 1, columnOffset: location.column - 1) },
            backfill: backfill,
            gate: gate == nil ? nil : .approval, reversible: reversible, transaction: transaction, ignore: ignore,
            location: location, message: gate, pattern: pattern)
    }
}
