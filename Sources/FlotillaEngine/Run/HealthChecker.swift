import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import Foundation
import PostgresNIO

/// Watches a wave's health: `tenant` and `wave` checks right after the wave's steps and then every `interval`
/// while it bakes, with a last round when the bake ends; `preflight` checks before the wave starts.
///
/// Every measurement is journaled (`flotilla.measurements`) as it is taken, and each check's verdict per wave
/// (`flotilla.check_verdicts`). A check fails as soon as its failures exceed `failure_limit`, or one target's
/// consecutive errors exceed `consecutive_error_limit`: the bake stops there and the Driver reverts or halts.
/// A bake that ends with a target whose latest measurement is an error or no data is inconclusive.
struct BakeWatcher: Sendable {
    let driver: Driver
    let phase: Phase
    let wave: PlannedWave

    /// Measurements closer together than this are not useful; it also keeps `interval: 0s` from spinning.
    static let shortestInterval = Duration.milliseconds(100)

    var runner: CheckRunner {
        CheckRunner(
            connections: driver.engine.connections, policy: driver.policy, logger: driver.logger,
            rollout: driver.rolloutID, phase: phase.name, wave: wave.name)
    }

    // MARK: bake

    /// Tenant- and wave-scope checks after the wave, every interval during the bake, and at its end.
    func watch(_ tenants: [Tenant]) async throws -> BakeVerdict {
        let checks = driver.policy.checks.filter { $0.scope != .preflight }
        let bake = Duration.milliseconds(wave.bakeMilliseconds)
        if bake > .zero { driver.observe(.baking(phase: phase.name, wave: wave.name, duration: bake)) }
        guard !checks.isEmpty else {
            if bake > .zero { try await Task.sleep(for: bake) }
            return .healthy
        }
        try await driver.store.ensureCheckTables()
        var tallies = checks.map(CheckTally.init)
        let baseline = try await baselineTenants(tenants, for: checks)
        let clock = ContinuousClock()
        let end = clock.now + bake
        // When each check measures next; nil once its end-of-bake round is done.
        var next: [ContinuousClock.Instant?] = Array(repeating: clock.now, count: checks.count)
        var last = Array(repeating: bake == .zero, count: checks.count)
        while true {
            let now = clock.now
            let due = checks.indices.filter { index in next[index].map { $0 <= now } ?? false }
            if !due.isEmpty {
                if let failed = try await measure(due, of: checks, on: tenants, baseline: baseline, into: &tallies)
                    .failed
                {
                    let ids = Set(tenants.map(\.id))
                    let tally = tallies[failed]
                    let failing = tally.failing.map(\.target)
                    // Failed on its failures (not on a target's error streak), each of them a tenant's own.
                    let attributable =
                        tally.failures > tally.check.failureLimit && !failing.isEmpty
                        && failing.allSatisfy(ids.contains)
                    return .failed(try await failure(of: tallies[failed]), tenants: attributable ? failing : [])
                }
                let after = clock.now
                for index in due {
                    guard let scheduled = next[index], !last[index] else {
                        next[index] = nil
                        continue
                    }
                    var upcoming = scheduled + max(checks[index].interval, Self.shortestInterval)
                    if upcoming < after { upcoming = after }  // a slow round: carry on, do not burst to catch up
                    if upcoming >= end {
                        upcoming = end
                        last[index] = true
                    }
                    next[index] = upcoming
                }
            }
            guard let wake = next.compactMap({ $0 }).min() else { break }
            if wake > clock.now { try await Task.sleep(until: wake, clock: clock) }
        }
        var unsettled: [String] = []
        var summary: [String] = []
        for tally in tallies {
            let verdict = tally.verdict
            if case .inconclusive(let why) = verdict { unsettled.append("check \(tally.check.name): \(why)") }
            try await driver.store.recordCheckVerdict(
                driver.rolloutID, phase: phase.name, wave: wave.name, tally: tally, verdict)
            driver.observe(
                .checkVerdict(
                    rollout: driver.rolloutID, phase: phase.name, wave: wave.name, check: tally.check.name,
                    verdict: verdict.journalWord, reason: verdict.reason))
            summary.append("\(tally.check.name) \(verdict.journalWord) (\(tally.counts))")
        }
        try await driver.store.event(
            driver.rolloutID, "checks", phase: phase.name, wave: wave.name, summary.joined(separator: "; "))
        if !unsettled.isEmpty { return .inconclusive(unsettled.joined(separator: "; ")) }
        return .healthy
    }

    /// What one round measured: per check index, and the check that failed, if one did.
    struct Round {
        var failed: Int?
        var measurements: [Int: [CheckMeasurement]] = [:]
    }

    /// One round: the checks `indices` on their targets, at once under the caps; journals what was measured.
    /// Stops at the first measurement that makes a check fail. A `compare: cohort` check reads every tenant of the
    /// wave and of `baseline` in the same round, then its comparison is the round's one measurement in its tally
    /// (skipped when no tenant is left without the phase on the wave's shards: there is nothing to compare with).
    func measure(
        _ indices: [Int], of checks: [Check], on tenants: [Tenant], baseline: [Tenant] = [],
        into tallies: inout [CheckTally]
    ) async throws -> Round {
        var jobs: [CheckRunner.Job] = []
        for index in indices {
            if checks[index].compare != nil {
                guard !baseline.isEmpty else { continue }
                for (cohort, members) in [("changed", tenants), ("baseline", baseline)] {
                    for tenant in members {
                        let target = CheckTarget(tenant: tenant, shard: tenant.shard, members: [tenant])
                        jobs.append(CheckRunner.Job(index: index, check: checks[index], target: target, cohort: cohort))
                    }
                }
                continue
            }
            for target in CheckTarget.targets(of: checks[index], tenants: tenants) {
                jobs.append(CheckRunner.Job(index: index, check: checks[index], target: target))
            }
        }
        var round = Round()
        var taken = try await runner.run(jobs) { job, measurement in
            if job.cohort != nil { return false }
            tallies[job.index].add(measurement)
            round.measurements[job.index, default: []].append(measurement)
            if tallies[job.index].failure != nil {
                round.failed = job.index
                return true
            }
            return false
        }
        if round.failed == nil {
            for index in indices {
                guard let comparison = checks[index].compare else { continue }
                let readings = taken.filter { $0.0.index == index && $0.0.cohort != nil }.map(\.1)
                guard !readings.isEmpty else { continue }
                let measurement = compared(checks[index], comparison, readings)
                taken.append(
                    (
                        CheckRunner.Job(index: index, check: checks[index], target: CheckTarget(members: tenants)),
                        measurement
                    ))
                tallies[index].add(measurement)
                round.measurements[index, default: []].append(measurement)
                if round.failed == nil, tallies[index].failure != nil { round.failed = index }
            }
        }
        try await driver.store.recordMeasurements(driver.rolloutID, phase: phase.name, wave: wave.name, taken.map(\.1))
        for (_, measurement) in taken {
            driver.observe(
                .checkMeasured(rollout: driver.rolloutID, phase: phase.name, wave: wave.name, measurement: measurement))
        }
        return round
    }

    /// A cohort check's round: its readings of both cohorts compared, as one measurement (target `cohort`).
    func compared(_ check: Check, _ comparison: CohortComparison, _ readings: [CheckMeasurement]) -> CheckMeasurement {
        func numbers(_ cohort: String) -> [Double] {
            readings.filter { $0.cohort == cohort && $0.verdict == .pass }.compactMap { $0.value.flatMap(Double.init) }
        }
        var result = comparison.judge(
            changed: numbers("changed"), baseline: numbers("baseline"), higherIsWorse: check.higherIsWorse)
        let unread = readings.filter { $0.verdict != .pass }
        if !unread.isEmpty {
            result.detail +=
                "; \(unread.count) unread: "
                + unread.prefix(3).map { "\($0.target) (\($0.verdict.rawValue): \($0.detail))" }.joined(separator: "; ")
        }
        var measurement = CheckMeasurement(
            check: check.name, kind: check.kind.name, scope: check.scope.rawValue, target: "cohort",
            verdict: result.verdict, value: result.value, detail: result.detail,
            milliseconds: readings.map(\.milliseconds).max() ?? 0, at: readings.map(\.at).min() ?? Date())
        measurement.cohort = "compared"
        measurement.baseline = result.baseline
        return measurement
    }

    /// The most tenants a cohort check's baseline takes (unless `min_samples` asks for more): enough for a median,
    /// without doubling a large wave's readings.
    static let baselineLimit = 100

    /// The baseline of the cohort checks: tenants of later waves on the wave's shards whose step of this phase has
    /// not started, sampled in turn from each shard — as many as the wave has (at most `baselineLimit`), and at
    /// least `min_samples`.
    func baselineTenants(_ tenants: [Tenant], for checks: [Check]) async throws -> [Tenant] {
        let comparisons = checks.compactMap(\.compare)
        guard !comparisons.isEmpty else { return [] }
        var shards: [String] = []
        for tenant in tenants where !shards.contains(tenant.shard) { shards.append(tenant.shard) }
        let started = Set(
            try await driver.store.steps(driver.rolloutID, phase: phase.name).filter { $0.state != .pending }.map(
                \.tenant))
        let changed = Set(tenants.map(\.id))
        let later = driver.plan.waves.filter { $0.number > wave.number }.flatMap(\.tenants)
        let candidates = later.filter { !changed.contains($0) && !started.contains($0) }.compactMap(driver.tenant)
        let count = max(min(tenants.count, Self.baselineLimit), comparisons.map(\.minSamples).max() ?? 1)
        return CohortComparison.sample(candidates, shards: shards, count: count)
    }

    /// Journals a failed check and says why it failed, what it measured last, and which tenants have the phase
    /// from this rollout (the ones a revert touches), newest wave first.
    func failure(of tally: CheckTally, preflight: Bool = false) async throws -> String {
        let check = tally.check
        let why = tally.failure ?? tally.inconclusive ?? "failed"
        var lines = [
            "check \(check.name) (\(check.kind.name), scope \(check.scope.rawValue)) failed \(preflight ? "before" : "in") wave \(wave.name) of phase \(phase.name): \(why)"
        ]
        let failing = tally.failing.map(\.target)
        if !failing.isEmpty {
            lines.append("failing: \(Self.list(failing, limit: 10))")
        }
        lines.append("last measurements: " + tally.last(5).map(\.summary).joined(separator: "; "))
        if !preflight {
            let steps = try await driver.store.steps(driver.rolloutID, phase: phase.name).filter {
                $0.state == .applied
            }
            var byWave: [String] = []
            for planned in driver.plan.waves.reversed() {
                let members = steps.filter { $0.wave == planned.name }.map(\.tenant)
                if !members.isEmpty {
                    byWave.append("wave \(planned.name) (\(members.count)): \(Self.list(members, limit: 8))")
                }
            }
            lines.append(
                "phase \(phase.name) was applied on \(steps.count) tenant\(steps.count == 1 ? "" : "s") in this rollout"
                    + (byWave.isEmpty ? "" : ", newest wave first: " + byWave.joined(separator: "; ")))
        }
        let message = lines.joined(separator: "\n  ")
        try await driver.store.recordCheckVerdict(
            driver.rolloutID, phase: phase.name, wave: wave.name, tally: tally,
            .failed(why, tenants: tally.failing.map(\.target)))
        driver.observe(
            .checkVerdict(
                rollout: driver.rolloutID, phase: phase.name, wave: wave.name, check: check.name, verdict: "failed",
                reason: why))
        try await driver.store.event(
            driver.rolloutID, preflight ? "preflight-failed" : "check-failed", phase: phase.name, wave: wave.name,
            message)
        driver.observe(.checkFailed(check: check.name, message: message))
        return message
    }

    static func list(_ names: [String], limit: Int) -> String {
        names.prefix(limit).joined(separator: ", ") + (names.count > limit ? ", … (\(names.count - limit) more)" : "")
    }

    // MARK: preflight

    /// Preflight checks before the wave starts; nil when clear to go, else why the rollout must halt.
    ///
    /// A round where every measurement passes lets the wave start. A failing or erroring check is measured again
    /// every interval — the wave waits — until it passes, or until its failures exceed `failure_limit` (or its
    /// consecutive errors `consecutive_error_limit`): then the rollout halts. Nothing is ever reverted: the wave
    /// has not started. Inconclusive rounds follow `on_inconclusive`: continue, halt, or pause (wait, measuring,
    /// until it passes or `flotilla approve ROLLOUT --phase preflight:PHASE@WAVE`).
    func preflight(_ tenants: [Tenant]) async throws -> String? {
        let checks = driver.policy.checks.filter { $0.scope == .preflight }
        guard !checks.isEmpty else { return nil }
        try await driver.store.ensureCheckTables()
        var tallies = checks.map(CheckTally.init)
        let gate = "preflight:\(phase.name)@\(wave.name)"
        var saidWaiting = false
        while true {
            try Task.checkCancellation()
            let measured = try await measure(Array(checks.indices), of: checks, on: tenants, into: &tallies)
            if let failed = measured.failed {
                return try await failure(of: tallies[failed], preflight: true)
            }
            let round = checks.indices.map { measured.measurements[$0] ?? [] }
            let open = checks.indices.filter { index in round[index].contains { $0.verdict != .pass } }
            if open.isEmpty {
                for tally in tallies {
                    try await driver.store.recordCheckVerdict(
                        driver.rolloutID, phase: phase.name, wave: wave.name, tally: tally, .healthy)
                }
                if saidWaiting {
                    try await driver.store.event(
                        driver.rolloutID, "preflight-passed", phase: phase.name, wave: wave.name,
                        "preflight checks pass now")
                }
                return nil
            }
            let reasons = open.map { index in
                let bad = round[index].filter { $0.verdict != .pass }
                return "check \(checks[index].name): "
                    + bad.prefix(3).map { "\($0.target) \($0.verdict.rawValue): \($0.detail)" }.joined(separator: "; ")
                    + (bad.count > 3 ? "; …" : "")
            }.joined(separator: "; ")
            let onlyInconclusive = open.allSatisfy { index in
                round[index].allSatisfy { $0.verdict == .pass || $0.verdict == .inconclusive }
            }
            if onlyInconclusive {
                switch driver.policy.onInconclusive {
                case .continue:
                    try await driver.store.event(
                        driver.rolloutID, "inconclusive", phase: phase.name, wave: wave.name,
                        "preflight inconclusive, going on (on_inconclusive: continue): \(reasons)")
                    return nil
                case .halt:
                    return "inconclusive (on_inconclusive: halt): \(reasons)"
                case .pause:
                    if try await driver.store.rollout(id: driver.rolloutID)?.approvedPhases.contains(gate) == true {
                        try await driver.store.event(
                            driver.rolloutID, "approved", phase: phase.name, wave: wave.name,
                            "preflight \(gate) approved")
                        return nil
                    }
                    if !driver.options.waitForApproval {
                        return
                            "inconclusive: \(reasons); approve with flotilla approve \(driver.rolloutID) --phase \(gate)"
                    }
                }
            }
            if !saidWaiting {
                saidWaiting = true
                let how =
                    onlyInconclusive
                    ? "; to go on anyway: flotilla approve \(driver.rolloutID) --phase \(gate)"
                    : ""
                try await driver.store.event(
                    driver.rolloutID, "preflight-waiting", phase: phase.name, wave: wave.name,
                    "wave \(wave.name) waits: \(reasons)\(how)")
                for index in open {
                    try await driver.store.recordCheckVerdict(
                        driver.rolloutID, phase: phase.name, wave: wave.name, tally: tallies[index], .waiting(reasons))
                }
            }
            let interval = open.map { max(checks[$0].interval, Self.shortestInterval) }.min() ?? .seconds(1)
            try await Task.sleep(for: interval)
            // A halt while waiting: let the wave "start"; the Driver's halt handling stops it before any step.
            if try await driver.monitor.check() != nil { return nil }
        }
    }
}
