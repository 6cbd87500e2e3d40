/// Renders findings in one of the `LintFormat`s. The output has no trailing newline.
public enum LintRenderer {
    public static func render(_ findings: [Finding], format: LintFormat) -> String {
        switch format {
        case .text: TextRenderer.render(findings)
        case .json: JSONRenderer.render(findings)
        case .sarif: SARIFRenderer.render(findings, rules: Linter.rules + RuleDescription.liveCatalog)
        case .github: GitHubRenderer.render(findings)
        }
    }
}
