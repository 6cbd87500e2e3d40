import FlotillaModel
import Foundation

/// Renders a plan for people (text) or programs (JSON). The same plan always renders to the same bytes.
public enum PlanRenderer {
    public static func json(_ plan: RolloutPlan) -> String {
        // The same bytes as JSONEncoder's, written directly: a plan lists every tenant, twice.
        if let text = PrettyJSON.encode(plan) { return text }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(plan)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    public static func text(_ plan: RolloutPlan, maxTenantsShown: Int = 12) -> String {
        var out: [String] = []
        out.append(
            "Plan: change \(plan.change) on fleet \(plan.fleet) (\(plan.tenantCount) tenants on \(plan.shards.count) shards) with policy \(plan.policy)"
        )
        let perShard = plan.caps.perShard.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
            separator: ", ")
        out.append("  caps: \(plan.caps.parallel) at once in all; per shard: \(perShard)")
        out.append(
            "  lock_timeout \(Duration.milliseconds(plan.caps.lockTimeoutMilliseconds).flotillaDescription), statement_timeout \(Duration.milliseconds(plan.caps.statementTimeoutMilliseconds).flotillaDescription), \(plan.caps.retryAttempts) attempts \(Duration.milliseconds(plan.caps.retryBackoffMilliseconds).flotillaDescription) apart"
        )
        out.append("  on failure: \(plan.onFailure); failure budget: \(plan.failureBudget)")
        if !plan.checks.isEmpty { out.append("  checks: \(plan.checks.joined(separator: ", "))") }
        out.append("")
        out.append("Waves")
        for wave in plan.waves {
            let bake = Duration.milliseconds(wave.bakeMilliseconds).flotillaDescription
            out.append(
                "  \(wave.number). \(wave.name): \(wave.tenants.count) tenant\(wave.tenants.count == 1 ? "" : "s"), bake \(bake)\(wave.by.map { ", one \($0) at a time" } ?? "")"
            )
            for slice in wave.slices {
                let prefix = slice.shard.map { "     \($0): " } ?? "     "
                out.append(prefix + list(slice.tenants, max: maxTenantsShown))
            }
        }
        out.append("")
        out.append("Phases (each finishes on every wave before the next starts)")
        for (index, phase) in plan.phases.enumerated() {
            var traits: [String] = []
            if let gate = phase.gate { traits.append("gate: \(gate)") }
            traits.append(phase.reversible ? "reversible" : "not reversible")
            if phase.transaction == "none" { traits.append("no transaction") }
            out.append("  \(index + 1). \(phase.name) (\(traits.joined(separator: ", ")))")
            for (label, sql) in [
                ("up", phase.up), ("backfill", phase.backfill), ("verify", phase.verify), ("down", phase.down),
            ] {
                guard let sql else { continue }
                let lines = sql.split(separator: "\n", omittingEmptySubsequences: false)
                out.append("     \(label):".padding(toLength: 15, withPad: " ", startingAt: 0) + lines[0])
                for line in lines.dropFirst() { out.append(String(repeating: " ", count: 15) + line) }
            }
            for finding in phase.findings where finding.risk > .low || finding.acknowledged != nil {
                let note = finding.acknowledged.map { " (acknowledged: \($0))" } ?? ""
                out.append(
                    "     risk:      \(finding.risk.rawValue) [\(finding.rule)] at \(finding.line):\(finding.column): \(finding.strategy); \(finding.lock)\(note)"
                )
            }
        }
        if !plan.warnings.isEmpty {
            out.append("")
            out += plan.warnings
        }
        return out.joined(separator: "\n")
    }

    static func list(_ items: [String], max: Int) -> String {
        if items.count <= max { return items.joined(separator: ", ") }
        return items.prefix(max).joined(separator: ", ") + " … and \(items.count - max) more"
    }
}
