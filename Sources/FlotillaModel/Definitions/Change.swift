/// An ordered, versioned schema change made of phases. Read from `fleets/<fleet>/changes/NNNN_name.yaml`.
public struct Change: Sendable, Hashable {
    public var id: String
    public var description: String?
    /// Changes that must be complete on the fleet before this one starts.
    public var requires: [String]
    /// Where each id of `requires` is written (errors about a requirement point there).
    public var requirementLocations: [String: SourceLocation] = [:]
    public var phases: [Phase]
    public var file: String
    public var location: SourceLocation

    public init(
        id: String, description: String? = nil, requires: [String] = [], phases: [Phase], file: String = "",
        location: SourceLocation? = nil
    ) {
        self.id = id
        self.description = description
        self.requires = requires
        self.phases = phases
        self.file = file
        self.location = location ?? SourceLocation(file: file, line: 1, column: 1)
    }

    public func phase(named name: String) -> Phase? { phases.first { $0.name == name } }

    /// Where the requirement `id` is written, or the change itself when it is not known.
    public func location(ofRequirement id: String) -> SourceLocation { requirementLocations[id] ?? location }
}

/// SQL written in a definition file, with where it starts there (for lint findings and errors).
public struct SQLText: Sendable, Hashable {
    public var sql: String
    /// Added to a 1-based line inside `sql` to get the file's line.
    public var lineOffset: Int
    /// Added to a 1-based column inside `sql` to get the file's column.
    public var columnOffset: Int

    public init(_ sql: String, lineOffset: Int = 0, columnOffset: Int = 0) {
        self.sql = sql
        self.lineOffset = lineOffset
        self.columnOffset = columnOffset
    }
}

/// One step of a change: expand, backfill, switch, contract…
public struct Phase: Sendable, Hashable {
    public enum Gate: String, Sendable, Hashable, CaseIterable {
        case approval
    }

    public enum TransactionMode: String, Sendable, Hashable, CaseIterable {
        /// One transaction per tenant, unless a statement cannot run inside one (`… CONCURRENTLY`).
        case auto
        /// Each statement on its own.
        case none
    }

    public var name: String
    public var up: SQLText?
    public var down: SQLText?
    /// SQL whose first column must be true on the tenant after `up`.
    public var verify: SQLText?
    public var backfill: Backfill?
    public var gate: Gate?
    public var reversible: Bool
    public var transaction: TransactionMode
    /// Lint rules acknowledged for this phase, each with a reason.
    public var ignore: [LintAcknowledgement]
    public var location: SourceLocation
    /// What a person must make sure of before approving the phase's gate (set by patterns).
    public var message: String? = nil
    /// The `pattern:` that generated this phase, if one did; its SQL then points at the pattern's node.
    public var pattern: String? = nil

    public init(
        name: String, up: SQLText? = nil, down: SQLText? = nil, verify: SQLText? = nil, backfill: Backfill? = nil,
        gate: Gate? = nil, reversible: Bool? = nil, transaction: TransactionMode = .auto,
        ignore: [LintAcknowledgement] = [], location: SourceLocation, message: String? = nil, pattern: String? = nil
    ) {
        self.name = name
        self.up = up
        self.down = down
        self.verify = verify
        self.backfill = backfill
        self.gate = gate
        self.reversible = reversible ?? (down != nil || (backfill != nil && up == nil))
        self.transaction = transaction
        self.ignore = ignore
        self.location = location
        self.message = message
        self.pattern = pattern
    }

    /// A stable fingerprint of what the phase does to a tenant; a ledger row with another checksum is drift.
    public var checksum: String {
        var text = "up:\(up?.sql.trimmingWhitespace() ?? "")\n"
        if let backfill {
            text +=
                "backfill:\(backfill.table)|\(backfill.set)|\(backfill.whereClause ?? "")|\(backfill.key)\n"
        }
        if transaction == .none { text += "transaction:none\n" }
        return SHA256.hex(of: text)
    }
}

/// A data migration in batches by key range, each batch its own short transaction.
public struct Backfill: Sendable, Hashable {
    public var table: String
    /// `col = expression`, the SET clause.
    public var set: String
    public var whereClause: String?
    /// The integer key column batches are ranged on.
    public var key: String
    public var batchSize: Int
    public var pause: Duration
    /// SET clause that undoes the backfill when the phase is reverted (optional).
    public var revert: String?
    /// `min_batch`, `max_batch` and `target_batch_time` as written (nil when not); see ``sizing``.
    public var minBatch: Int?
    public var maxBatch: Int?
    public var targetBatchTime: Duration?

    /// How the batches are sized: fixed batches of `batchSize`, or sized by `targetBatchTime`, `batchSize` first.
    public var sizing: BatchSizing {
        BatchSizing(batchSize: batchSize, minimum: minBatch, maximum: maxBatch, target: targetBatchTime)
    }

    public init(
        table: String, set: String, whereClause: String? = nil, key: String = "id", batchSize: Int = 1000,
        pause: Duration = .zero, revert: String? = nil, minBatch: Int? = nil, maxBatch: Int? = nil,
        targetBatchTime: Duration? = nil
    ) {
        self.table = table
        self.set = set
        self.whereClause = whereClause
        self.key = key
        self.batchSize = batchSize
        self.pause = pause
        self.revert = revert
        self.minBatch = minBatch
        self.maxBatch = maxBatch
        self.targetBatchTime = targetBatchTime
    }
}

/// A lint rule a person acknowledged for a phase, with the reason.
public struct LintAcknowledgement: Sendable, Hashable, Codable {
    public var rule: String
    public var reason: String

    public init(rule: String, reason: String) {
        self.rule = rule
        self.reason = reason
    }
}
