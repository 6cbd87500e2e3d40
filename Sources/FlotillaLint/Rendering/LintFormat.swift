/// Output formats of `flotilla lint --format`.
public enum LintFormat: String, CaseIterable, Sendable {
    /// `file:line:col: risk: [rule] message (strategy; lock)`, then a summary line.
    case text
    /// `{"findings":[…]}` with sorted keys.
    case json
    /// SARIF 2.1.0, for code scanning.
    case sarif
    /// GitHub Actions workflow commands (`::error file=…::…`).
    case github
}
