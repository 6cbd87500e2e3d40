/// What a rule says about one statement or `ALTER TABLE` action, before it is placed in a file.
struct Verdict {
    var rule: RuleDescription
    var risk: Risk
    var strategy: String
    var lock: String
    /// What the statement does, e.g. `DROP COLUMN legacy on users`.
    var what: String
    /// Why it is risky and the safe rewrite; empty when there is nothing to add.
    var advice: String
    /// The token the finding points at; nil for the statement's first token.
    var anchor: SQLToken?
    /// A table rename that a view under the old name, later in the same transaction, turns into the alias pattern.
    var alias: ChangeState.Rename?

    init(_ rule: RuleDescription, _ what: String, advice: String = "", lock: String? = nil, at anchor: SQLToken? = nil)
    {
        self.rule = rule
        self.risk = rule.risk
        self.strategy = rule.strategy
        self.lock = lock ?? rule.lock
        self.what = what
        self.advice = advice
        self.anchor = anchor
    }

    /// The id of the generic rule, for a statement no rule flags.
    static let statementRule = RuleDescription.statement.id

    var message: String {
        advice.isEmpty ? what : "\(what): \(advice)"
    }

    /// The same finding made harmless by its context, e.g. the table was created in this change.
    /// Errors (statements PostgreSQL rejects) stay errors.
    func exempted(because reason: String) -> Verdict {
        guard risk < .error, risk > .low || strategy != Strategy.direct else { return self }
        var verdict = self
        verdict.risk = .low
        verdict.strategy = Strategy.direct
        verdict.advice = reason
        return verdict
    }

    /// Exempts the verdict when `table` was created earlier in this change.
    func exempted(ifCreated table: QualifiedName, in state: ChangeState) -> Verdict {
        guard state.isCreated(table) else { return self }
        return exempted(
            because: "\(table) is created in this change, so there are no existing rows or readers to protect")
    }
}
