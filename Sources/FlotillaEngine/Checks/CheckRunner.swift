import FlotillaModel
import Foundation
import Logging

/// Takes measurements: one check on one target, or many at once under the policy's caps — never more than
/// `parallel` at once, and for `sql` checks never more than the shard's cap on one shard.
struct CheckRunner: Sendable {
    let connections: FleetConnections
    let policy: Policy
    let logger: Logger
    let rollout: String
    let phase: String
    let wave: String

    /// One unit of work: check number `index` of a list, on one target.
    struct Job: Sendable {
        var index: Int
        var check: Check
        var target: CheckTarget
        /// For `compare: cohort`: `changed` or `baseline`, written on the measurement.
        var cohort: String? = nil
    }

    func shardCap(_ shard: String) -> Int {
        min(policy.perShardParallel, connections.fleet.shard(named: shard)?.maxParallel ?? Int.max)
    }

    /// Measures `check` on `target` once.
    func measure(_ check: Check, on target: CheckTarget) async -> CheckMeasurement {
        let started = ContinuousClock.now
        let at = Date()
        let template = CheckTemplate(target: target, wave: wave, phase: phase, rollout: rollout)
        var result: (verdict: CheckMeasurement.Verdict, value: String?, detail: String)
        switch check.kind {
        case .sql(let sql, let min, let max):
            if let tenant = target.tenant {
                result = await SQLCheck.measure(
                    sql, min: min, max: max, tenant: tenant, timeout: check.timeout, connections: connections,
                    logger: logger)
            } else {
                result = (.error, nil, "a sql check needs a tenant")
            }
        case .http(let probe):
            result = await HTTPCheck.measure(probe, template: template, timeout: check.timeout)
        case .command(let argv):
            result = await CommandCheck.measure(argv, template: template, timeout: check.timeout)
        case .prometheus(let query):
            result = await PrometheusCheck.measure(query, template: template, timeout: check.timeout)
        }
        if check.compare != nil { result = CohortComparison.reading(result) }
        let milliseconds = Int((ContinuousClock.now - started).milliseconds)
        let measurement = CheckMeasurement(
            check: check.name, kind: check.kind.name, scope: check.scope.rawValue, target: target.key,
            tenant: target.tenant?.id, shard: target.shard, verdict: result.verdict, value: result.value,
            detail: result.detail, milliseconds: milliseconds, at: at)
        logger.debug(
            "health check measured",
            metadata: [
                "check": "\(check.name)", "target": "\(target.key)", "verdict": "\(result.verdict.rawValue)",
                "phase": "\(phase)", "wave": "\(wave)", "detail": "\(result.detail)",
            ])
        return measurement
    }

    /// Runs every job under the caps, handing each measurement to `take` as it arrives; when `take` says stop,
    /// the jobs not yet started are dropped and those in flight cancelled (a killed command, a cancelled request).
    /// Returns the measurements taken, in the order they arrived.
    func run(_ jobs: [Job], take: (Job, CheckMeasurement) -> Bool) async throws -> [(Job, CheckMeasurement)] {
        var pending = jobs[...]
        var perShard: [String: Int] = [:]
        var inFlight = 0
        var taken: [(Job, CheckMeasurement)] = []
        let parallel = max(1, policy.parallel)
        try await withThrowingTaskGroup(of: (Job, CheckMeasurement).self) { group in
            var stopped = false
            while !pending.isEmpty || inFlight > 0 {
                while !stopped, inFlight < parallel,
                    let position = pending.firstIndex(where: { job in
                        guard case .sql = job.check.kind, let shard = job.target.shard else { return true }
                        return perShard[shard, default: 0] < shardCap(shard)
                    })
                {
                    let job = pending.remove(at: position)
                    if case .sql = job.check.kind, let shard = job.target.shard { perShard[shard, default: 0] += 1 }
                    inFlight += 1
                    group.addTask {
                        var measurement = await measure(job.check, on: job.target)
                        measurement.cohort = job.cohort
                        return (job, measurement)
                    }
                }
                guard let (job, measurement) = try await group.next() else { break }
                inFlight -= 1
                if case .sql = job.check.kind, let shard = job.target.shard { perShard[shard, default: 0] -= 1 }
                if stopped { continue }
                taken.append((job, measurement))
                if take(job, measurement) {
                    stopped = true
                    pending = []
                    group.cancelAll()
                }
            }
        }
        try Task.checkCancellation()
        return taken
    }
}
