/// The risk of one statement (or of one action of an `ALTER TABLE`), where it is and how to do it safely.
public struct Finding: Sendable, Hashable, Codable {
    public var file: String
    /// 1-based line in `file`, offsets applied.
    public var line: Int
    /// 1-based column in `file`, offsets applied.
    public var column: Int
    /// The rule id, e.g. `add-column-volatile-default`.
    public var rule: String
    public var risk: Risk
    /// The zero-downtime strategy the statement needs, e.g. `multi-phase approach; backfill phase`.
    public var strategy: String
    /// The lock PostgreSQL 15 takes, e.g. `ACCESS EXCLUSIVE`.
    public var lock: String
    /// What the statement does and the safe rewrite.
    public var message: String
    public var phase: String?
    /// The first 80 or so characters of the statement, whitespace collapsed.
    public var statement: String
    /// The reason, when the rule is acknowledged for this statement.
    public var acknowledged: String?
    /// What running the statement on a copy of a tenant showed (`flotilla lint --trace`), when it was traced.
    public var traced: Traced?
    /// The tenant whose live catalog judged the finding (`flotilla lint --fleet`, rollout's risk gate), when it was.
    public var judged: Judged?

    public init(
        file: String, line: Int, column: Int, rule: String, risk: Risk, strategy: String, lock: String,
        message: String, phase: String? = nil, statement: String, acknowledged: String? = nil, traced: Traced? = nil,
        judged: Judged? = nil
    ) {
        self.file = file
        self.line = line
        self.column = column
        self.rule = rule
        self.risk = risk
        self.strategy = strategy
        self.lock = lock
        self.message = message
        self.phase = phase
        self.statement = statement
        self.acknowledged = acknowledged
        self.traced = traced
        self.judged = judged
    }

    /// Whether this finding fails `lint --fail-on threshold` and blocks a rollout: it is at or above the
    /// threshold and not acknowledged.
    public func fails(at threshold: Risk) -> Bool {
        acknowledged == nil && risk >= threshold
    }

    private enum CodingKeys: String, CodingKey {
        case file, line, column, rule, risk, strategy, lock, message, phase, statement, acknowledged, traced, judged
    }

    /// Every key is always present (`phase` and `acknowledged` as `null` when absent) so the JSON shape is stable;
    /// `traced` is added only by `lint --trace`, `judged` only by `lint --fleet`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(file, forKey: .file)
        try container.encode(line, forKey: .line)
        try container.encode(column, forKey: .column)
        try container.encode(rule, forKey: .rule)
        try container.encode(risk, forKey: .risk)
        try container.encode(strategy, forKey: .strategy)
        try container.encode(lock, forKey: .lock)
        try container.encode(message, forKey: .message)
        try container.encode(phase, forKey: .phase)
        try container.encode(statement, forKey: .statement)
        try container.encode(acknowledged, forKey: .acknowledged)
        try container.encodeIfPresent(traced, forKey: .traced)
        try container.encodeIfPresent(judged, forKey: .judged)
    }
}

extension Finding {
    /// What PostgreSQL did when the statement ran on a scratch copy of one tenant's schema.
    public struct Traced: Sendable, Hashable, Codable {
        /// One lock the statement's transaction held, as `pg_locks` names it.
        public struct Lock: Sendable, Hashable, Codable {
            /// The relation, schema-qualified unless it is in the traced tenant's schema.
            public var relation: String
            /// `pg_locks.mode`, e.g. `AccessExclusiveLock`.
            public var mode: String

            public init(relation: String, mode: String) {
                self.relation = relation
                self.mode = mode
            }
        }

        /// The tenant whose schema was copied.
        public var tenant: String
        /// The locks held on tables, indexes and sequences (not the system catalogs), strongest first.
        public var locks: [Lock]
        /// The tables whose storage was rewritten (their `relfilenode` changed).
        public var rewrites: [String]
        /// Why locks were not observed (the statement runs outside a transaction block) or why the trace failed.
        public var note: String?

        public init(tenant: String, locks: [Lock], rewrites: [String], note: String? = nil) {
            self.tenant = tenant
            self.locks = locks
            self.rewrites = rewrites
            self.note = note
        }
    }
}

extension Finding {
    /// What a finding was judged on when the fleet's live schema was read: the tenant, its shard, the table the
    /// statement touches and its rows, and why the risk changed.
    public struct Judged: Sendable, Hashable, Codable {
        /// The tenant whose catalog was read.
        public var tenant: String
        /// The tenant's shard.
        public var shard: String
        /// The table the statement touches, when the tenant has it.
        public var table: String?
        /// The table's rows: `pg_class.reltuples`, or counted (up to a limit) when the table was never analyzed.
        public var rows: Int?
        /// The risk before the live schema was taken into account.
        public var staticRisk: Risk
        /// Why the live schema changed the risk; nil when it did not.
        public var reason: String?

        public init(
            tenant: String, shard: String, table: String? = nil, rows: Int? = nil, staticRisk: Risk,
            reason: String? = nil
        ) {
            self.tenant = tenant
            self.shard = shard
            self.table = table
            self.rows = rows
            self.staticRisk = staticRisk
            self.reason = reason
        }

        private enum CodingKeys: String, CodingKey {
            case tenant, shard, table, rows, reason
            case staticRisk = "static_risk"
        }

        /// Every key always present (`table`, `rows` and `reason` as `null` when absent).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(tenant, forKey: .tenant)
            try container.encode(shard, forKey: .shard)
            try container.encode(table, forKey: .table)
            try container.encode(rows, forKey: .rows)
            try container.encode(staticRisk, forKey: .staticRisk)
            try container.encode(reason, forKey: .reason)
        }
    }
}
