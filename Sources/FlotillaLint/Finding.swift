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

    public init(
        file: String, line: Int, column: Int, rule: String, risk: Risk, strategy: String, lock: String,
        message: String, phase: String? = nil, statement: String, acknowledged: String? = nil
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
    }

    /// Whether this finding fails `lint --fail-on threshold` and blocks a rollout: it is at or above the
    /// threshold and not acknowledged.
    public func fails(at threshold: Risk) -> Bool {
        acknowledged == nil && risk >= threshold
    }

    private enum CodingKeys: String, CodingKey {
        case file, line, column, rule, risk, strategy, lock, message, phase, statement, acknowledged
    }

    /// Every key is always present (`phase` and `acknowledged` as `null` when absent) so the JSON shape is stable.
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
    }
}
