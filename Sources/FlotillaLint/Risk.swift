/// How risky a statement is for a rollout over live tenants, from least to most.
///
/// `error` sits above `high`: the statement cannot succeed as written (for example `CREATE INDEX
/// CONCURRENTLY` inside a transaction block), so PostgreSQL itself would reject it. Comparison follows
/// the declaration order: `low < medium < high < error`.
public enum Risk: String, Sendable, Codable, Comparable, CaseIterable {
    case low
    case medium
    case high
    case error

    private var rank: Int { Risk.allCases.firstIndex(of: self)! }

    public static func < (lhs: Risk, rhs: Risk) -> Bool {
        lhs.rank < rhs.rank
    }
}
