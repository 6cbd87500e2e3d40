import FlotillaLint
import Testing

/// One row of the rule table: SQL, what must have been linted before it, and the rule and risk expected
/// for its last finding.
struct RuleCase: Sendable, CustomTestStringConvertible {
    var sql: String
    var rule: String
    var risk: Risk
    /// SQL linted first, as an earlier input of the same change.
    var setup: String?
    var inTransaction = false
    /// The transaction is the one Flotilla runs a phase in (`transaction: auto`).
    var inPhase = false

    init(
        _ sql: String, _ rule: String, _ risk: Risk, setup: String? = nil, inTransaction: Bool = false,
        inPhase: Bool = false
    ) {
        self.sql = sql
        self.rule = rule
        self.risk = risk
        self.setup = setup
        self.inTransaction = inTransaction || inPhase
        self.inPhase = inPhase
    }

    var testDescription: String {
        (setup.map { "[\($0)] " } ?? "") + sql
            + (inPhase ? " (in a phase's transaction)" : inTransaction ? " (in transaction)" : "")
    }

    /// The findings of `sql` alone, after `setup` was linted as an earlier input.
    func findings() -> [Finding] {
        var inputs: [LintInput] = []
        if let setup { inputs.append(LintInput(file: "setup.sql", sql: setup, inTransaction: false)) }
        inputs.append(
            LintInput(file: "case.sql", sql: sql, inTransaction: inTransaction, isPhaseTransaction: inPhase))
        return Linter().lint(inputs).filter { $0.file == "case.sql" }
    }
}
