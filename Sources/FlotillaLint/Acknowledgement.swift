/// A lint rule acknowledged on purpose, with the reason why — from a `-- flotilla:ignore RULE reason`
/// comment or from a phase's `ignore:` list.
public struct Acknowledgement: Sendable, Hashable, Codable {
    /// The rule id, e.g. `drop-column`.
    public var rule: String
    /// Why the risk is accepted; never empty.
    public var reason: String

    public init(rule: String, reason: String) {
        self.rule = rule
        self.reason = reason
    }
}
