/// Lints SQL for the risk each statement poses to a rollout over live tenants.
///
/// Inputs are linted in order and share what they did: a table created by an earlier input (an earlier
/// phase of the same change) is "created in this change" for the later ones.
public struct Linter: Sendable {
    public init() {}

    /// Every rule, for docs and SARIF.
    public static let rules: [RuleDescription] = RuleDescription.catalog

    private static let ruleIDs = Set(rules.map(\.id))

    /// One finding per statement (per action of an `ALTER TABLE`), in input order, then by position.
    public func lint(_ inputs: [LintInput]) -> [Finding] {
        var state = ChangeState()
        return inputs.flatMap { lint($0, state: &state) }
    }

    /// Lints a single input on its own.
    public func lint(_ input: LintInput) -> [Finding] {
        lint([input])
    }

    private func lint(_ input: LintInput, state: inout ChangeState) -> [Finding] {
        let lexed = SQLLexer.lex(input.sql)
        state.beginInput(inTransaction: input.inTransaction, isPhaseTransaction: input.isPhaseTransaction)
        var findings: [Finding] = []

        func finding(_ verdict: Verdict, at token: SQLToken, statement: String, acknowledged: String?) -> Finding {
            Finding(
                file: input.file, line: token.line + input.lineOffset, column: token.column + input.columnOffset,
                rule: verdict.rule.id, risk: verdict.risk, strategy: verdict.strategy, lock: verdict.lock,
                message: verdict.message, phase: input.phase, statement: statement, acknowledged: acknowledged
            )
        }

        // Directives, each attached to its statement.
        var acknowledgements = Array(repeating: [Acknowledgement](), count: lexed.statements.count)
        for directive in lexed.comments.compactMap(IgnoreDirective.parse) {
            let index = IgnoreDirective.statementIndex(for: directive.comment, in: lexed.statements)
            let summary = index.map { Self.summary(lexed.statements[$0].statement.text) } ?? ""
            if directive.rules.isEmpty || directive.reason.isEmpty {
                let what =
                    directive.rules.isEmpty
                    ? "flotilla:ignore names no rule and gives no reason"
                    : "flotilla:ignore \(directive.rules.joined(separator: ",")) gives no reason"
                let verdict = Verdict(
                    .ignoreWithoutReason, what,
                    advice: "it acknowledges nothing; write `-- flotilla:ignore RULE why this is safe here`"
                )
                findings.append(finding(verdict, at: directive.comment, statement: summary, acknowledged: nil))
                continue
            }
            for rule in directive.rules where !Self.ruleIDs.contains(rule) {
                let verdict = Verdict(
                    .ignoreUnknownRule, "flotilla:ignore names the unknown rule \(rule)",
                    advice:
                        "it acknowledges nothing; `flotilla lint --rules` lists the rules"
                )
                findings.append(finding(verdict, at: directive.comment, statement: summary, acknowledged: nil))
            }
            if let index {
                acknowledgements[index] += directive.rules.map { Acknowledgement(rule: $0, reason: directive.reason) }
            }
        }
        let inputAcknowledgements = input.ignores.filter { !$0.reason.trimmingBlanks.isEmpty }
        for ignore in input.ignores where ignore.reason.trimmingBlanks.isEmpty {
            let verdict = Verdict(
                .ignoreWithoutReason, "ignore of \(ignore.rule) gives no reason",
                advice: "it acknowledges nothing; give each ignored rule a reason"
            )
            let start = SQLToken(kind: .comment, text: "", line: 1, column: 1, offset: 0, length: 0)
            findings.append(finding(verdict, at: start, statement: "", acknowledged: nil))
        }

        // Renames that a later view may turn into the alias pattern: the finding's index and what made it.
        var renames: [(index: Int, verdict: Verdict, token: SQLToken, summary: String, acknowledged: String?)] = []
        // Each statement by the offset of its first token: its summary, acknowledgements and first finding.
        var statements: [Int: (summary: String, acknowledged: [Acknowledgement], finding: Int)] = [:]
        for (index, lexedStatement) in lexed.statements.enumerated() {
            let summary = Self.summary(lexedStatement.statement.text)
            let acknowledged = acknowledgements[index] + inputAcknowledgements
            statements[lexedStatement.tokens[0].offset] = (summary, acknowledged, findings.count)
            for verdict in StatementAnalyzer.analyze(lexedStatement.tokens, state: &state) {
                let reason =
                    verdict.rule == .ignoreWithoutReason
                    ? nil : acknowledged.first { SQLToken.fold($0.rule) == verdict.rule.id }?.reason
                let token = verdict.anchor ?? lexedStatement.tokens[0]
                if verdict.alias != nil {
                    renames.append((findings.count, verdict, token, summary, reason))
                }
                findings.append(finding(verdict, at: token, statement: summary, acknowledged: reason))
            }
        }
        for rename in renames {
            guard let alias = rename.verdict.alias, state.aliasedRenames.contains(alias) else { continue }
            let verdict = rename.verdict.exempted(
                because: "the alias pattern: a view \(alias.table) over \(alias.newName) is created in the same "
                    + "transaction, so running queries keep working; move the application to \(alias.newName), "
                    + "then drop the view in a later phase")
            findings[rename.index] = finding(
                verdict, at: rename.token, statement: rename.summary, acknowledged: rename.acknowledged)
        }
        // A BEGIN never committed: its finding says so instead of the generic one.
        if let verdict = StatementAnalyzer.unterminatedBegin(state), let begin = verdict.anchor,
            let statement = statements[begin.offset]
        {
            let reason = statement.acknowledged.first { SQLToken.fold($0.rule) == verdict.rule.id }?.reason
            let shape = finding(verdict, at: begin, statement: statement.summary, acknowledged: reason)
            if findings.indices.contains(statement.finding), findings[statement.finding].rule == Verdict.statementRule {
                findings[statement.finding] = shape
            } else {
                findings.append(shape)
            }
        }
        return findings.enumerated()
            .sorted {
                ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
            }
            .map(\.element)
    }

    /// The statement's first 80 characters, whitespace collapsed.
    static func summary(_ text: String) -> String {
        let collapsed = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return collapsed.count <= 80 ? collapsed : String(collapsed.prefix(79)) + "…"
    }
}
