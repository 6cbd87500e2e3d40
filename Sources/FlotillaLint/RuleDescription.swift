/// A lint rule as documented: what it flags, its risk, the strategy it asks for and the lock involved.
///
/// `risk` is the rule's risk on an existing table with rows. A finding can carry a lower risk than its
/// rule when the context makes the statement harmless: the table was created earlier in the same change,
/// or a validated `CHECK (col IS NOT NULL)` already proves a `SET NOT NULL`.
public struct RuleDescription: Sendable, Hashable, Codable {
    /// Kebab-case id, e.g. `add-column-volatile-default`.
    public var id: String
    public var risk: Risk
    public var strategy: String
    /// The lock PostgreSQL 15 takes for the statements this rule flags.
    public var lock: String
    /// One sentence for docs and SARIF.
    public var summary: String

    public init(id: String, risk: Risk, strategy: String, lock: String, summary: String) {
        self.id = id
        self.risk = risk
        self.strategy = strategy
        self.lock = lock
        self.summary = summary
    }
}
