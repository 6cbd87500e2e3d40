import FlotillaLint
import FlotillaModel

extension ChangeLint {
    /// Each phase's `up` as positioned SQL (file, offsets, phase): what ``LiveJudgement`` parses to find the tables,
    /// columns and foreign keys the change touches.
    public static func liveInputs(_ change: Change) -> [LintInput] {
        change.phases.compactMap { phase -> LintInput? in
            guard let up = phase.up else { return nil }
            return LintInput(
                file: change.file, sql: up.sql, lineOffset: up.lineOffset, columnOffset: up.columnOffset,
                phase: phase.name, ignores: phase.ignore.map { Acknowledgement(rule: $0.rule, reason: $0.reason) })
        }
    }

    /// The existing tables the change touches (their names, as the tenant's catalog has them).
    public static func touchedTables(_ change: Change) -> [String] {
        LiveJudgement.tables(in: liveInputs(change))
    }

    /// The change's findings judged on one tenant's live schema.
    public static func findings(_ change: Change, judgedOn schema: LiveSchema, thresholds: RiskThresholds) -> [Finding]
    {
        LiveJudgement.judge(findings(change), inputs: liveInputs(change), schema: schema, thresholds: thresholds)
    }
}
