import FlotillaModel
import FlotillaPostgres
import Foundation
import PostgresNIO

/// Runs one phase on a set of tenants in parallel: never more than `parallel` at once, never more than the shard's
/// cap (`per_shard_parallel`, and the shard's `max_parallel`) on one shard. One tenant's failure never disturbs another.
struct WaveRunner: Sendable {
    let driver: Driver
    let phase: Phase

    struct Result: Sendable {
        var applied = 0
        var failures: [StepError] = []
    }

    func cap(_ shard: String) -> Int {
        min(driver.policy.perShardParallel, driver.fleet.shard(named: shard)?.maxParallel ?? Int.max)
    }

    func step(_ tenant: Tenant) -> TenantStep {
        TenantStep(
            fleet: driver.fleet.name, change: driver.change.id, phase: phase, tenant: tenant, policy: driver.policy,
            rolloutID: driver.rolloutID, store: driver.store, logger: driver.logger, monitor: driver.monitor)
    }

    /// Dispatches `work` over `tenants` in order, as many at once as the caps allow. It serves reverts, which run to
    /// their end even under a halt (`halt --revert` asks for one).
    func dispatch(_ tenants: [Tenant], _ work: @escaping @Sendable (Tenant) async -> StepError?) async throws
        -> [StepError]
    {
        var pending = tenants[...]
        var running: [String: Int] = [:]
        var inFlight = 0
        var failures: [StepError] = []
        try await withThrowingTaskGroup(of: (String, StepError?).self) { group in
            while !pending.isEmpty || inFlight > 0 {
                while inFlight < driver.policy.parallel, !Task.isCancelled,
                    let index = pending.firstIndex(where: { running[$0.shard, default: 0] < cap($0.shard) })
                {
                    let tenant = pending.remove(at: index)
                    running[tenant.shard, default: 0] += 1
                    inFlight += 1
                    group.addTask { (tenant.shard, await work(tenant)) }
                }
                guard let (shard, failure) = try await group.next() else { break }
                running[shard, default: 0] -= 1
                inFlight -= 1
                if let failure { failures.append(failure) }
            }
        }
        try Task.checkCancellation()
        return failures
    }

    /// Works one slice of a wave (a whole wave, or one shard of a `by: shard` wave) through claims in the control
    /// store, with as many local workers as the caps allow, until no step of the slice is left — whichever
    /// coordinator ran it. Returns what this coordinator did.
    func runSlice(wave: String, shard: String?) async throws -> Result {
        let store = driver.store
        let rollout = driver.rolloutID
        let owner = driver.engine.owner
        let claimTTL = driver.engine.claimTTL
        let fleet = driver.fleet
        let shards = fleet.shards.filter { shard == nil || $0.name == shard }
        let caps = Dictionary(uniqueKeysWithValues: fleet.shards.map { ($0.name, cap($0.name)) })
        let workers = max(1, min(driver.policy.parallel, shards.reduce(0) { $0 + cap($1.name) }))
        let tenants = Dictionary(uniqueKeysWithValues: fleet.tenants.map { ($0.id, $0) })
        let tally = Tally()
        let live = LiveClaims()
        let monitor = driver.monitor
        let parallel = driver.policy.parallel
        try await withThrowingTaskGroup(of: Void.self) { outer in
            outer.addTask {
                // Keep alive the claims of the steps this coordinator's workers are running now, and only those: a
                // step whose worker ended without journaling its outcome (the control store was briefly away) is
                // left to expire, and is claimed and finished again (its tenant's ledger says whether it ran).
                while true {
                    try await Task.sleep(for: claimTTL / 3)
                    let held = await live.tenants
                    if !held.isEmpty {
                        try? await store.renewClaims(rollout, owner: owner, tenants: held, claimTTL: claimTTL)
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<workers {
                    group.addTask {
                        while await !monitor.isHalted {
                            try Task.checkCancellation()
                            guard
                                let claim = try await store.retrying({
                                    try await store.claimStep(
                                        rollout, phase: phase.name, wave: wave, shard: shard, owner: owner,
                                        parallel: parallel, shardCaps: caps, claimTTL: claimTTL)
                                })
                            else {
                                let left = try await store.retrying {
                                    try await store.unfinishedSteps(
                                        rollout, phase: phase.name, wave: wave, shard: shard)
                                }
                                if left == 0 { return }
                                try await Task.sleep(for: .milliseconds(50))
                                continue
                            }
                            guard let tenant = tenants[claim.tenant] else {
                                try await store.stepFinished(
                                    rollout, phase: phase.name, tenant: claim.tenant, state: "failed",
                                    durationMilliseconds: nil,
                                    error: "tenant \(claim.tenant) is not in this coordinator's fleet definition")
                                continue
                            }
                            await live.hold(tenant.id)
                            let failure = await applyOne(tenant, claimed: true)
                            await live.release(tenant.id)
                            if let failure {
                                await tally.fail(failure)
                            } else {
                                await tally.succeed()
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            outer.cancelAll()
        }
        return await Result(applied: tally.applied, failures: tally.failures)
    }

    /// Applies the phase to one tenant, retrying lock timeouts with backoff, and a lost session (a server restarting)
    /// for up to the connect timeout; journals the outcome.
    func applyOne(_ tenant: Tenant, claimed: Bool = false) async -> StepError? {
        let store = driver.store
        let step = step(tenant)
        let attempts = driver.policy.retries.attempts
        var lastError = StepError(tenant: tenant.id, shard: tenant.shard, phase: phase.name, message: "not run")
        let monitor = driver.monitor
        let clock = ContinuousClock()
        var attempt = 0
        var lostSince: ContinuousClock.Instant?
        while true {
            attempt += 1
            do {
                // A step boundary: read the halts table, so a lost notification cannot matter.
                if let halt = try await monitor.check() { throw HaltedError(halt: halt) }
                if !(claimed && attempt == 1) {
                    try await store.retrying {
                        try await store.stepStarted(driver.rolloutID, phase: phase.name, tenant: tenant.id)
                    }
                }
                let outcome: TenantStep.Outcome
                do {
                    outcome = try await driver.engine.connections.withTenant(tenant) { connection in
                        let pid = try await SQLRunner.firstValue(
                            "pg_backend_pid()", on: connection, logger: driver.logger)
                        await monitor.register(tenant: tenant.id, shard: tenant.shard, pid: Int32(pid ?? "") ?? 0)
                        return try await step.apply(connection)
                    }
                    // Out here, not in the body: a body given up on (its session lost) must not stay registered.
                    await monitor.unregister(tenant: tenant.id)
                } catch {
                    await monitor.unregister(tenant: tenant.id)
                    throw error
                }
                var milliseconds: Int?
                if case .applied(let ms) = outcome { milliseconds = ms }
                // Committed in the tenant: recorded as applied even if the run is being cancelled right now.
                let (rollout, phaseName, id, duration) = (driver.rolloutID, phase.name, tenant.id, milliseconds)
                try await uncancelled(within: .seconds(15)) {
                    try await store.retrying {
                        try await store.stepFinished(
                            rollout, phase: phaseName, tenant: id, state: "applied", durationMilliseconds: duration)
                    }
                }
                driver.observe(
                    .stepApplied(
                        phase: phase.name, tenant: tenant.id, milliseconds: milliseconds ?? 0,
                        alreadyApplied: outcome == .alreadyApplied))
                return nil
            } catch {
                if let halt = await monitor.halt {
                    // Stopped by a halt: its transaction rolled back; the tenant is as before the phase.
                    try? await store.stepFinished(
                        driver.rolloutID, phase: phase.name, tenant: tenant.id, state: "pending",
                        durationMilliseconds: nil,
                        error: "stopped by halt: \(halt.reason)", owner: driver.engine.owner)
                    return nil
                }
                if error is CancellationError || Task.isCancelled {
                    // The run was cancelled (Ctrl-C): the transaction rolled back; the step goes back to pending so
                    // that a rerun, or another coordinator, applies it.
                    let store = store
                    let (rollout, phase, tenant, owner) = (driver.rolloutID, phase.name, tenant.id, driver.engine.owner)
                    try? await uncancelled {
                        try await store.stepFinished(
                            rollout, phase: phase, tenant: tenant, state: "pending", durationMilliseconds: nil,
                            error: "interrupted: the coordinator was stopped", owner: owner)
                    }
                    return nil
                }
                let failure = DatabaseFailure(error)
                lastError = StepError(
                    tenant: tenant.id, shard: tenant.shard, phase: phase.name, sqlState: failure.sqlState,
                    message: failure.message, isConnectionLoss: failure.isConnectionLoss)
                if failure.isConnectionLoss {
                    // The session died (a restart, a failover) or could not be opened: nothing of this attempt was
                    // committed. Try a new session until the connect timeout has passed since the loss began; a
                    // server that stays away fails the tenant then, and the failure budget decides.
                    // A shard already known to be unreachable shares its window with every tenant on it.
                    let since =
                        await driver.engine.connections.unreachableSince(tenant.shard) ?? lostSince ?? clock.now
                    lostSince = lostSince ?? since
                    if clock.now - since < driver.policy.connectTimeout {
                        driver.observe(
                            .stepRetry(
                                phase: phase.name, tenant: tenant.id, attempt: attempt, error: lastError.description))
                        try? await store.event(
                            driver.rolloutID, "retry", phase: phase.name, tenant: tenant.id,
                            "session lost, trying a new one: \(lastError)")
                        try? await Task.sleep(for: .milliseconds(500))
                        attempt -= 1
                        continue
                    }
                    break
                }
                if failure.isRetryable, attempt < attempts {
                    driver.observe(
                        .stepRetry(phase: phase.name, tenant: tenant.id, attempt: attempt, error: lastError.description)
                    )
                    try? await store.event(
                        driver.rolloutID, "retry", phase: phase.name, tenant: tenant.id,
                        "attempt \(attempt) of \(attempts): \(lastError)")
                    try? await Task.sleep(for: driver.policy.retries.backoff * attempt)
                    continue
                }
                break
            }
        }
        let finalError = lastError
        let (rollout, phaseName) = (driver.rolloutID, phase.name)
        try? await store.retrying {
            try await store.stepFinished(
                rollout, phase: phaseName, tenant: tenant.id, state: "failed", durationMilliseconds: nil,
                sqlState: finalError.sqlState, error: finalError.message)
        }
        try? await store.event(
            driver.rolloutID, "step-failed", phase: phase.name, tenant: tenant.id, lastError.description)
        driver.observe(.stepFailed(error: lastError))
        return lastError
    }

    /// Reverts the phase on these tenants, recording each as `state` (with `note` as its error text); returns the
    /// failures.
    func revert(_ tenants: [Tenant], state: String = "reverted", note: String? = nil) async throws -> [StepError] {
        try await dispatch(tenants) { tenant in
            let store = driver.store
            let step = step(tenant)
            var lastError: StepError?
            for attempt in 1...driver.policy.retries.attempts {
                do {
                    _ = try await driver.engine.connections.withTenant(tenant) { try await step.revert($0) }
                    try await store.stepFinished(
                        driver.rolloutID, phase: phase.name, tenant: tenant.id, state: state,
                        durationMilliseconds: nil, error: note)
                    try? await store.event(
                        driver.rolloutID, "step-reverted", phase: phase.name, tenant: tenant.id, "reverted")
                    driver.observe(.stepReverted(phase: phase.name, tenant: tenant.id))
                    return nil
                } catch {
                    let failure = DatabaseFailure(error)
                    lastError = StepError(
                        tenant: tenant.id, shard: tenant.shard, phase: phase.name, sqlState: failure.sqlState,
                        message: "revert: " + failure.message)
                    if failure.isRetryable, attempt < driver.policy.retries.attempts {
                        try? await Task.sleep(for: driver.policy.retries.backoff * attempt)
                        continue
                    }
                    break
                }
            }
            if let lastError {
                try? await store.event(
                    driver.rolloutID, "revert-failed", phase: phase.name, tenant: tenant.id, lastError.description)
            }
            return lastError
        }
    }
}

/// The steps this coordinator's workers are running now: only their claims are renewed.
/// Counted: a late renewal can let another local worker claim the same tenant again, and the first one to finish
/// must not stop the renewal of the other's claim.
actor LiveClaims {
    private var held: [String: Int] = [:]

    var tenants: [String] { held.keys.sorted() }
    func hold(_ tenant: String) { held[tenant, default: 0] += 1 }

    func release(_ tenant: String) {
        let count = (held[tenant] ?? 1) - 1
        held[tenant] = count > 0 ? count : nil
    }
}

/// What one coordinator's workers did in a slice.
actor Tally {
    var applied = 0
    var failures: [StepError] = []

    func succeed() { applied += 1 }
    func fail(_ error: StepError) { failures.append(error) }
}
