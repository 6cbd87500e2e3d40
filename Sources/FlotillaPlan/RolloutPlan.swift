import FlotillaLint
import FlotillaModel

/// Everything `flotilla plan` shows and `flotilla rollout` runs: the waves, the caps and each phase's SQL.
public struct RolloutPlan: Sendable, Hashable, Codable {
    public struct Caps: Sendable, Hashable, Codable {
        public var parallel: Int
        public var perShard: [String: Int]
        public var lockTimeoutMilliseconds: Int64
        public var statementTimeoutMilliseconds: Int64
        public var retryAttempts: Int
        public var retryBackoffMilliseconds: Int64

        enum CodingKeys: String, CodingKey {
            case parallel
            case perShard = "per_shard"
            case lockTimeoutMilliseconds = "lock_timeout_ms"
            case statementTimeoutMilliseconds = "statement_timeout_ms"
            case retryAttempts = "retry_attempts"
            case retryBackoffMilliseconds = "retry_backoff_ms"
        }
    }

    public struct PlannedPhase: Sendable, Hashable, Codable {
        public var name: String
        public var up: String?
        public var down: String?
        public var verify: String?
        public var backfill: String?
        public var gate: String?
        public var reversible: Bool
        public var transaction: String
        public var checksum: String
        /// The risk of each statement of `up`.
        public var findings: [Finding]
    }

    public var fleet: String
    public var change: String
    public var policy: String
    public var tenantCount: Int
    public var shards: [String]
    public var caps: Caps
    public var waves: [PlannedWave]
    public var phases: [PlannedPhase]
    public var onFailure: String
    public var failureBudget: String
    public var checks: [String]
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case fleet, change, policy, shards, caps, waves, phases, checks, warnings
        case tenantCount = "tenant_count"
        case onFailure = "on_failure"
        case failureBudget = "failure_budget"
    }

    /// Plans a rollout. Throws the problems (with their places) when the plan cannot run.
    public static func make(fleet: Fleet, change: Change, policy: Policy) throws(DefinitionError) -> RolloutPlan {
        let (wavePlan, diagnostics) = WavePlanner.plan(fleet: fleet, policy: policy)
        var all = Diagnostics()
        all.append(contentsOf: diagnostics)
        if policy.onFailure == .revert {
            for phase in change.phases where phase.down == nil && phase.up != nil && phase.reversible == false {
                all.warning(
                    phase.location, "phases",
                    "phase '\(phase.name)' has no 'down': with on_failure: revert it cannot be reverted; a failure there halts the rollout instead"
                )
            }
        }
        try all.check()
        var perShard: [String: Int] = [:]
        for shard in fleet.shards { perShard[shard.name] = min(policy.perShardParallel, shard.maxParallel ?? Int.max) }
        let findings = ChangeLint.findings(change)
        let phases = change.phases.map { phase in
            PlannedPhase(
                name: phase.name, up: phase.up?.sql.trimmingWhitespaceAndNewlines(),
                down: phase.down?.sql.trimmingWhitespaceAndNewlines(),
                verify: phase.verify?.sql.trimmingWhitespaceAndNewlines(),
                backfill: phase.backfill.map(BackfillSQL.describe),
                gate: phase.gate?.rawValue, reversible: phase.reversible, transaction: phase.transaction.rawValue,
                checksum: phase.checksum, findings: findings.filter { $0.phase == phase.name })
        }
        return RolloutPlan(
            fleet: fleet.name, change: change.id, policy: policy.name, tenantCount: fleet.tenants.count,
            shards: fleet.shards.map(\.name),
            caps: Caps(
                parallel: policy.parallel, perShard: perShard, lockTimeoutMilliseconds: policy.lockTimeout.milliseconds,
                statementTimeoutMilliseconds: policy.statementTimeout.milliseconds,
                retryAttempts: policy.retries.attempts,
                retryBackoffMilliseconds: policy.retries.backoff.milliseconds),
            waves: wavePlan.waves, phases: phases, onFailure: policy.onFailure.rawValue,
            failureBudget: "per wave \(policy.failureBudget.perWave), total \(policy.failureBudget.total)",
            checks: policy.checks.map { "\($0.name) (\($0.scope.rawValue))" },
            warnings: all.warnings.map(\.description))
    }
}

extension String {
    func trimmingWhitespaceAndNewlines() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}
