import FlotillaLint
import FlotillaModel

/// The risk of every statement a change runs (each phase's `up`), and which findings stop a rollout.
public enum ChangeLint {
    /// Lints each phase's `up` in order, with the phase's acknowledgements; positions are the change file's.
    public static func findings(_ change: Change) -> [Finding] {
        let inputs = change.phases.compactMap { phase -> LintInput? in
            guard let up = phase.up else { return nil }
            let statements = SQLLexer.statements(in: up.sql)
            // Flotilla runs a phase outside a transaction when asked, or when a statement cannot run inside one.
            let inTransaction = phase.transaction == .auto && !statements.contains { $0.mustRunOutsideTransaction }
            return LintInput(
                file: change.file, sql: up.sql, lineOffset: up.lineOffset, columnOffset: up.columnOffset,
                phase: phase.name, inTransaction: inTransaction,
                ignores: phase.ignore.map { Acknowledgement(rule: $0.rule, reason: $0.reason) },
                isPhaseTransaction: inTransaction)
        }
        return Linter().lint(inputs).map { finding in
            var finding = finding
            if finding.acknowledged == nil, finding.risk >= .high, finding.strategy.contains("deprecation pattern"),
                let phase = finding.phase.flatMap(change.phase(named:)), phase.gate == .approval
            {
                finding.acknowledged = "behind an approval gate: the deprecation pattern"
            }
            return finding
        }
    }

    /// Findings that stop a rollout: high or worse and not acknowledged.
    public static func blocking(_ findings: [Finding]) -> [Finding] {
        findings.filter { $0.fails(at: .high) }
    }
}
