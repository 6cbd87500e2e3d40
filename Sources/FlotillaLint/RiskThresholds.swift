/// From how many rows a statement that rewrites or scans a table is at least medium, and high, whatever its rule
/// says (a policy's `risk: {rows_medium: …, rows_high: …}`). Below `rowsMedium` such a statement may be one step lower.
public struct RiskThresholds: Sendable, Hashable {
    public var rowsMedium: Int
    public var rowsHigh: Int

    public init(rowsMedium: Int = 100_000, rowsHigh: Int = 10_000_000) {
        self.rowsMedium = rowsMedium
        self.rowsHigh = rowsHigh
    }
}
