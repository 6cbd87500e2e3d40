import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// The state machine of one rollout run: phases → waves → tenants, then bake, checks, and what to do on failure.
struct Driver: Sendable {
    let engine: RolloutEngine
    let rolloutID: String
    let change: Change
    let policy: Policy
    let plan: RolloutPlan
    let options: RolloutEngine.Options
    let monitor: HaltMonitor
    /// The fleet as this rollout sees it: its tenants are the rollout's (its snapshot in the journal, or the fleet's
    /// for a rollout from before snapshots), whatever the fleet's definition holds now.
    let fleet: Fleet
    private let tenantsByID: [String: Tenant]
    /// The rollout's per-shard throttle, while `drive` runs with a policy that has `throttle:`.
    var throttle: ShardThrottle? = nil

    /// A driver over `tenants` (default: the fleet's of the connections).
    init(
        engine: RolloutEngine, rolloutID: String, change: Change, policy: Policy, plan: RolloutPlan,
        options: RolloutEngine.Options, monitor: HaltMonitor, tenants: [Tenant]? = nil
    ) {
        self.engine = engine
        self.rolloutID = rolloutID
        self.change = change
        self.policy = policy
        self.plan = plan
        self.options = options
        self.monitor = monitor
        var fleet = engine.connections.fleet
        if let tenants { fleet.tenants = tenants }
        self.fleet = fleet
        tenantsByID = Dictionary(fleet.tenants.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    var store: ControlStore { engine.store }
    var observe: @Sendable (RolloutEvent) -> Void { engine.observe }
    var logger: Logger { engine.logger }

    func tenant(_ id: String) -> Tenant? { tenantsByID[id] }

    func drive() async throws -> RolloutOutcome {
        guard let spec = policy.throttle, throttle == nil else { return try await driveWaves() }
        let used = Set(fleet.tenants.map(\.shard))
        let urls = engine.connections.shardURLs.filter { used.contains($0.key) }
        let (store, rolloutID, observe, monitor, fleetName) = (store, rolloutID, observe, monitor, fleet.name)
        let shardThrottle = ShardThrottle(
            throttle: spec, shards: urls, deadlines: engine.connections.deadlines,
            environment: ProcessInfo.processInfo.environment, logger: logger
        ) { change in
            switch change {
            case .throttled(let cause):
                observe(.throttled(cause))
                try? await store.event(rolloutID, "throttled", cause.description)
            case .cleared(let shard, let after):
                observe(.throttleCleared(shard: shard, after: after))
                try? await store.event(rolloutID, "throttle-cleared", "shard \(shard) clear (was \(after.condition))")
            case .halt(let cause):
                let reason =
                    "throttle: shard \(cause.shard) \(cause.signal) = \(cause.valueText) > halt_above \(cause.thresholdText)"
                try? await store.event(rolloutID, "throttle-halt", reason)
                if (try? await store.halt(fleet: fleetName, reason: reason, by: "flotilla throttle", revert: false))
                    != nil
                {
                    _ = try? await monitor.check()
                }
            }
        }
        var throttled = self
        throttled.throttle = shardThrottle
        let driver = throttled
        return try await withThrowingTaskGroup(of: RolloutOutcome?.self) { group in
            group.addTask {
                await shardThrottle.run()
                return nil
            }
            group.addTask { try await driver.driveWaves() }
            defer { group.cancelAll() }
            while let outcome = try await group.next() {
                if let outcome { return outcome }
            }
            throw CancellationError()
        }
    }

    /// Phases, then waves, then tenants.
    func driveWaves() async throws -> RolloutOutcome {
        let tenants = tenantsByID
        var quarantined = Set(try await store.steps(rolloutID).filter { $0.state == .quarantined }.map(\.tenant))
        for (phaseIndex, phase) in change.phases.enumerated() {
            try Task.checkCancellation()
            if let halt = try await monitor.check() { return try await halted(halt, phase: phase) }
            let waves = plan.waves.map { wave in
                (name: wave.name, index: wave.number, tenants: wave.tenants.map { ($0, tenants[$0]?.shard ?? "") })
            }
            try await store.seedSteps(rolloutID, phase: phase.name, phaseIndex: phaseIndex, waves: waves)
            var steps = try await store.steps(rolloutID, phase: phase.name)
            let open = steps.filter {
                ![.applied, .quarantined].contains($0.state) && !quarantined.contains($0.tenant)
            }
            if open.isEmpty {
                observe(.phaseSkipped(phase: phase.name, reason: "already applied on every tenant"))
                continue
            }
            if phase.gate == .approval {
                do {
                    if let outcome = try await untilHalted({ try await awaitApproval(phase) }) { return outcome }
                } catch let error as HaltedError {
                    return try await halted(error.halt, phase: phase)
                }
            }
            observe(.phaseStarted(phase: phase.name, number: phaseIndex + 1, of: change.phases.count))
            try await store.setState(rolloutID, .running, phase: phase.name)
            try await store.event(rolloutID, "phase-started", phase: phase.name, "phase \(phase.name) started")
            for wave in plan.waves {
                try Task.checkCancellation()
                steps = try await store.steps(rolloutID, phase: phase.name)
                let pending = Set(
                    steps.filter { $0.wave == wave.name && ![.applied, .quarantined].contains($0.state) }.map(
                        \.tenant)
                ).subtracting(quarantined)
                if pending.isEmpty { continue }
                try await store.setState(rolloutID, .running, phase: phase.name, wave: wave.name)
                if let reason = try await BakeWatcher(driver: self, phase: phase, wave: wave).preflight(
                    pending.sorted().compactMap(tenant))
                {
                    // A failed preflight never reverts: the wave has not started.
                    return try await halt(phase: phase, reason: "preflight failed before wave \(wave.name): \(reason)")
                }
                try await store.event(
                    rolloutID, "wave-started", phase: phase.name, wave: wave.name, "\(pending.count) tenants")
                let clock = ContinuousClock()
                let started = clock.now
                try await store.retryFailed(rolloutID, phase: phase.name, wave: wave.name)
                for slice in wave.slices {
                    let members = slice.tenants.filter(pending.contains)
                    if members.isEmpty { continue }
                    observe(
                        .waveStarted(phase: phase.name, wave: wave.name, tenants: members.count, shard: slice.shard))
                    try await store.setCurrentSlice(rolloutID, phase: phase.name, wave: wave.name, shard: slice.shard)
                    _ = try await WaveRunner(driver: self, phase: phase).runSlice(wave: wave.name, shard: slice.shard)
                    if await monitor.isHalted { break }
                }
                if let halt = await monitor.halt { return try await halted(halt, phase: phase) }
                // Every coordinator's outcome for this wave, from the journal.
                let waveSteps = try await store.steps(rolloutID, phase: phase.name).filter { $0.wave == wave.name }
                let failures = waveSteps.filter { $0.state == .failed }.map {
                    StepError(
                        tenant: $0.tenant, shard: $0.shard, phase: phase.name, sqlState: $0.sqlState,
                        message: $0.error ?? "failed")
                }
                let applied = waveSteps.filter { $0.state == .applied && pending.contains($0.tenant) }.count
                let milliseconds = Int((clock.now - started).milliseconds)
                observe(
                    .waveFinished(
                        phase: phase.name, wave: wave.name, applied: applied, failed: failures.count,
                        milliseconds: milliseconds))
                try await store.event(
                    rolloutID, "wave-finished", phase: phase.name, wave: wave.name,
                    "\(applied) applied, \(failures.count) failed in \(milliseconds) ms")
                if !failures.isEmpty {
                    let allowedWave = policy.failureBudget.perWave.allowed(of: wave.tenants.count)
                    let allowedTotal = policy.failureBudget.total.allowed(of: fleet.tenants.count)
                    if failures.count <= allowedWave, quarantined.count + failures.count <= allowedTotal {
                        let ids = failures.map(\.tenant)
                        for id in ids {
                            try await store.stepFinished(
                                rolloutID, phase: phase.name, tenant: id, state: .quarantined,
                                durationMilliseconds: nil, sqlState: failures.first { $0.tenant == id }?.sqlState,
                                error: failures.first { $0.tenant == id }?.message)
                        }
                        quarantined.formUnion(ids)
                        observe(.quarantined(phase: phase.name, tenants: ids))
                        try await store.event(
                            rolloutID, "quarantined", phase: phase.name, wave: wave.name,
                            "within the failure budget: \(ids.joined(separator: ", "))")
                    } else {
                        let reason =
                            "\(failures.count) tenant(s) failed in wave \(wave.name) of phase \(phase.name) (budget: per wave \(policy.failureBudget.perWave), total \(policy.failureBudget.total)); first: \(failures[0])"
                        return try await fail(phase: phase, reason: reason)
                    }
                }
                bake: while true {
                    let verdict: BakeVerdict
                    do {
                        let skipped = quarantined
                        verdict = try await untilHalted {
                            try await bake(phase: phase, wave: wave, quarantined: skipped)
                        }
                    } catch let error as HaltedError {
                        return try await halted(error.halt, phase: phase)
                    }
                    switch verdict {
                    case .healthy:
                        break bake
                    case .failed(let reason, let unhealthy):
                        // on_failure: quarantine sets the unhealthy tenants aside (the phase reverted on them
                        // alone) while the failure budget allows, and the wave bakes again without them.
                        let allowedWave = policy.failureBudget.perWave.allowed(of: wave.tenants.count)
                        let allowedTotal = policy.failureBudget.total.allowed(of: fleet.tenants.count)
                        let setAside = try await store.steps(rolloutID, phase: phase.name).filter {
                            $0.wave == wave.name && [.failed, .quarantined].contains($0.state)
                        }.count
                        if policy.onFailure == .quarantine, !unhealthy.isEmpty, Self.canRevert(phase),
                            setAside + unhealthy.count <= allowedWave,
                            quarantined.count + unhealthy.count <= allowedTotal
                        {
                            try await quarantine(phase: phase, wave: wave.name, tenants: unhealthy, reason: reason)
                            quarantined.formUnion(unhealthy)
                            continue bake
                        }
                        return try await fail(phase: phase, reason: reason)
                    case .inconclusive(let reason), .waiting(let reason):
                        // Stop, and keep everything as it is.
                        return try await halt(phase: phase, reason: reason)
                    }
                }
            }
            try await store.event(
                rolloutID, "phase-finished", phase: phase.name, "phase \(phase.name) applied fleet-wide")
        }
        try await store.setState(rolloutID, .done)
        try await store.event(rolloutID, "done", "rollout done")
        observe(.finished(rollout: rolloutID, state: .done, reason: nil))
        return .done(rollout: rolloutID)
    }

    /// Waits for `flotilla approve` (or returns `.awaitingApproval` when not waiting).
    func awaitApproval(_ phase: Phase) async throws -> RolloutOutcome? {
        if try await store.rollout(id: rolloutID)?.approvedPhases.contains(phase.name) == true { return nil }
        try await store.setState(rolloutID, .awaitingApproval, phase: phase.name)
        try await store.event(
            rolloutID, "awaiting-approval", phase: phase.name,
            "phase \(phase.name) waits for flotilla approve \(rolloutID)")
        observe(.awaitingApproval(rollout: rolloutID, phase: phase.name))
        if options.approveGates {
            _ = try await store.approve(rolloutID, phase: phase.name)
            try await store.event(
                rolloutID, "approved", phase: phase.name, "phase \(phase.name) approved by the coordinator itself")
            observe(.approved(phase: phase.name))
            return nil
        }
        guard options.waitForApproval else { return .awaitingApproval(rollout: rolloutID, phase: phase.name) }
        while true {
            try await Task.sleep(for: options.approvalPoll)
            if try await store.rollout(id: rolloutID)?.approvedPhases.contains(phase.name) == true {
                observe(.approved(phase: phase.name))
                try await store.event(rolloutID, "approved", phase: phase.name, "phase \(phase.name) approved")
                return nil
            }
        }
    }

    /// Watches a wave while it bakes (the checks' owner decides how). An inconclusive verdict follows
    /// `on_inconclusive`: pause (wait for `flotilla approve`), halt, or continue; one that is returned means stop.
    func bake(phase: Phase, wave: PlannedWave, quarantined: Set<String>) async throws -> BakeVerdict {
        let members = wave.tenants.filter { !quarantined.contains($0) }.compactMap(tenant)
        let verdict = try await BakeWatcher(driver: self, phase: phase, wave: wave).watch(members)
        switch verdict {
        case .healthy, .failed, .waiting:
            return verdict
        case .inconclusive(let reason):
            try await store.event(rolloutID, "inconclusive", phase: phase.name, wave: wave.name, reason)
            switch policy.onInconclusive {
            case .continue:
                return .healthy
            case .halt:
                return .inconclusive("inconclusive health in wave \(wave.name): \(reason)")
            case .pause:
                let gate = "\(phase.name)@\(wave.name)"
                observe(.awaitingApproval(rollout: rolloutID, phase: gate))
                try await store.setState(rolloutID, .paused, phase: phase.name, wave: wave.name, reason: reason)
                while true {
                    if try await store.rollout(id: rolloutID)?.approvedPhases.contains(gate) == true { break }
                    if !options.waitForApproval {
                        return .inconclusive("paused: inconclusive health in wave \(wave.name): \(reason)")
                    }
                    try await Task.sleep(for: options.approvalPoll)
                }
                try await store.setState(rolloutID, .running, phase: phase.name, wave: wave.name)
                return .healthy
            }
        }
    }

    /// Runs `body` until it ends or a halt trips, whichever is first (checked every 100 ms).
    func untilHalted<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let monitor = self.monitor
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while true {
                    if let halt = await monitor.halt { throw HaltedError(halt: halt) }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    /// An emergency halt: stop here; with `--revert`, revert the current phase where this rollout applied it.
    func halted(_ halt: HaltRecord, phase: Phase) async throws -> RolloutOutcome {
        observe(.halting(halt: halt))
        let reason = "halted by \(halt.haltedBy): \(halt.reason)"
        if halt.revert {
            if phase.reversible && (phase.down != nil || phase.backfill != nil) {
                try await revert(phase: phase, reason: reason)
                try await store.setState(rolloutID, .reverted, phase: phase.name, reason: reason)
                try await store.event(
                    rolloutID, "reverted", phase: phase.name, "phase \(phase.name) reverted: \(reason)")
                observe(.finished(rollout: rolloutID, state: .reverted, reason: reason))
                return .reverted(rollout: rolloutID, reason: reason)
            }
            return try await self.halt(
                phase: phase, reason: reason + "; phase \(phase.name) is not reversible, so nothing was reverted")
        }
        return try await self.halt(phase: phase, reason: reason)
    }

    /// Stops the rollout and keeps every tenant as it is.
    func halt(phase: Phase, reason: String) async throws -> RolloutOutcome {
        try await store.setState(rolloutID, .halted, phase: phase.name, reason: reason)
        try await store.event(rolloutID, "halted", phase: phase.name, reason)
        observe(.finished(rollout: rolloutID, state: .halted, reason: reason))
        return .halted(rollout: rolloutID, reason: reason)
    }

    /// Whether the engine may undo `phase` by itself.
    static func canRevert(_ phase: Phase) -> Bool {
        phase.reversible && (phase.down != nil || phase.backfill != nil)
    }

    /// Sets tenants whose health checks failed aside: the phase is reverted on them alone and their steps are
    /// quarantined with the reason; later phases skip them.
    func quarantine(phase: Phase, wave: String, tenants ids: [String], reason: String) async throws {
        let members = ids.compactMap(tenant)
        observe(.reverting(phase: phase.name, tenants: members.count, reason: reason))
        let firstLine = reason.split(separator: "\n").first.map(String.init) ?? reason
        // Each tenant's step becomes `quarantined` as its revert commits: never `reverted` in between.
        let failures = try await WaveRunner(driver: self, phase: phase).revert(
            members, state: .quarantined, note: "reverted and quarantined: \(firstLine)")
        if let first = failures.first {
            throw RolloutError.message(
                "revert of phase \(phase.name) on the unhealthy tenant(s) failed on \(failures.count); first: \(first)")
        }
        observe(.quarantined(phase: phase.name, tenants: ids))
        try await store.event(
            rolloutID, "quarantined", phase: phase.name, wave: wave,
            "health checks failed on \(ids.joined(separator: ", ")) (on_failure: quarantine): reverted there; \(firstLine)"
        )
    }

    /// A wave failed: revert the phase where it was applied in this rollout (newest wave first), or halt.
    /// `quarantine` reverts too when the failure is beyond the budget or not any one tenant's.
    func fail(phase: Phase, reason: String) async throws -> RolloutOutcome {
        try await store.event(rolloutID, "wave-failed", phase: phase.name, reason)
        let canRevert = Self.canRevert(phase)
        if policy.onFailure != .halt, canRevert {
            try await revert(phase: phase, reason: reason)
            try await store.setState(rolloutID, .reverted, phase: phase.name, reason: reason)
            try await store.event(rolloutID, "reverted", phase: phase.name, "phase \(phase.name) reverted: \(reason)")
            observe(.finished(rollout: rolloutID, state: .reverted, reason: reason))
            return .reverted(rollout: rolloutID, reason: reason)
        }
        var why = reason
        if policy.onFailure != .halt, !canRevert {
            why += "; phase \(phase.name) is not reversible, so nothing was reverted"
        }
        try await store.setState(rolloutID, .halted, phase: phase.name, reason: why)
        try await store.event(rolloutID, "halted", phase: phase.name, why)
        observe(.finished(rollout: rolloutID, state: .halted, reason: why))
        return .halted(rollout: rolloutID, reason: why)
    }

    /// Reverts `phase` on every tenant whose step applied it in this rollout, newest wave first.
    func revert(phase: Phase, reason: String) async throws {
        let steps = try await store.steps(rolloutID, phase: phase.name).filter { $0.state == .applied }
        observe(.reverting(phase: phase.name, tenants: steps.count, reason: reason))
        for wave in plan.waves.reversed() {
            let members = steps.filter { $0.wave == wave.name }.compactMap { tenant($0.tenant) }
            if members.isEmpty { continue }
            let failures = try await WaveRunner(driver: self, phase: phase).revert(members)
            if let first = failures.first {
                throw RolloutError.message(
                    "revert of phase \(phase.name) failed on \(failures.count) tenant(s); first: \(first)")
            }
        }
    }
}
