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
            rolloutID: driver.rolloutID, store: driver.store, logger: driver.logger, monitor: driver.monitor,
            throttle: driver.throttle?.gate ?? follower?.gate ?? .open)
    }

    /// A follower coordinator's view of the leader's throttle (nil when this coordinator runs the monitors itself, or
    /// the policy has no `throttle:`).
    var follower: JournalThrottle? {
        guard driver.throttle == nil, driver.policy.throttle != nil else { return nil }
        return JournalThrottle(store: driver.store, rollout: driver.rolloutID)
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

    /// At most this many steps claimed at once by one worker slot (fewer as a slice empties; see `claimSteps`).
    static let batchLimit = 16
    /// Outcomes of a batch wait at most this long for the journal, so `status` follows slow steps as they end.
    static let journalInterval: Duration = .milliseconds(250)

    /// Works one slice of a wave (a whole wave, or one shard of a `by: shard` wave) through claims in the control
    /// store, until no step of the slice is left — whichever coordinator ran it. Returns what this coordinator did.
    ///
    /// Each of this coordinator's worker slots claims a batch of steps of one shard in one transaction, runs them one
    /// after another, and journals their outcomes in one statement: two control-store commits per batch, not two
    /// per step. The caps count busy slots, so they hold over every coordinator. A coordinator killed between a
    /// tenant's commit and the batch's journal write leaves the step `running` under its claim; whoever claims it
    /// next finds the phase in the tenant's ledger and records it applied — nothing runs twice.
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
        let throttle = driver.throttle
        let follower = self.follower
        /// Shards throttled now: from this coordinator's monitors, or as the leader journaled them.
        let pausedNow: @Sendable () async -> Set<String> = {
            if let throttle { return await throttle.pausedShards() }
            return await follower?.pausedShards() ?? []
        }
        let deferrals = Deferrals()
        let shardOf: @Sendable (String) -> String? = { tenants[$0]?.shard }
        let monitor = driver.monitor
        let parallel = driver.policy.parallel
        let phaseName = phase.name
        /// Writes outcomes of steps that committed in their tenants: even if the run is being cancelled right now.
        @Sendable func journal(_ outcomes: [ControlStore.StepOutcome]) async {
            if outcomes.isEmpty { return }
            try? await uncancelled(within: .seconds(15)) {
                try await store.retrying {
                    try await store.finishSteps(rollout, phase: phaseName, owner: owner, outcomes)
                }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { outer in
            outer.addTask {
                // Keep alive the claims of the steps this coordinator's slots hold now, and only those: a step whose
                // outcome could not be journaled (the control store was away too long) is left to expire, and is
                // claimed and finished again (its tenant's ledger says whether it ran).
                while true {
                    try await Task.sleep(for: claimTTL / 3)
                    let held = await live.tenants
                    if !held.isEmpty {
                        try? await store.renewClaims(rollout, owner: owner, tenants: held, claimTTL: claimTTL)
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for slot in 0..<workers {
                    group.addTask {
                        // An idle slot looks again after 50 ms, then less often (up to 250 ms) while nothing comes
                        // free: sixteen slots waiting on one long backfill must not flood the control store.
                        var idlePause = Duration.milliseconds(50)
                        while await !monitor.isHalted {
                            try Task.checkCancellation()
                            // A throttled shard gets no room: no new step of it is claimed while it is throttled.
                            let paused = await pausedNow()
                            var room = caps
                            for name in paused { room[name] = 0 }
                            let open = room
                            let batch = try await store.retrying {
                                try await store.claimSteps(
                                    rollout, phase: phaseName, wave: wave, shard: shard, owner: owner, slot: slot,
                                    limit: Self.batchLimit, parallel: parallel, shardCaps: open, claimTTL: claimTTL)
                            }
                            if batch.isEmpty {
                                // Nothing new to claim: the deferred steps get their turn, at the end of the queue.
                                if let id = await deferrals.next(excluding: paused, shardOf: shardOf),
                                    let tenant = tenants[id]
                                {
                                    if let outcome = await start(tenant, tally: tally, live: live, deferrals: deferrals)
                                    {
                                        await journal([outcome])
                                        await live.release([id])
                                    }
                                    continue
                                }
                                let left = try await store.retrying {
                                    try await store.unfinishedSteps(rollout, phase: phaseName, wave: wave, shard: shard)
                                }
                                if left == 0 { return }
                                // Steps are left but no room: with none of its own running, this coordinator asks
                                // the others to claim one step at a time for a while, so it gets a turn.
                                if await live.isEmpty { try? await store.wantClaim(rollout) }
                                try await Task.sleep(for: idlePause)
                                idlePause = min(idlePause * 2, .milliseconds(250))
                                continue
                            }
                            idlePause = .milliseconds(50)
                            let ids = batch.map(\.tenant)
                            await live.hold(ids)
                            var outcomes: [ControlStore.StepOutcome] = []
                            var lastWrite = ContinuousClock.now
                            for claim in batch {
                                // Slow steps show in the journal as they end: what ended is written every
                                // `journalInterval`, or with the batch's end, whichever is first.
                                if !outcomes.isEmpty, ContinuousClock.now - lastWrite >= Self.journalInterval {
                                    await journal(outcomes)
                                    outcomes = []
                                    lastWrite = .now
                                }
                                guard let tenant = tenants[claim.tenant] else {
                                    outcomes.append(
                                        .init(
                                            tenant: claim.tenant, state: .failed,
                                            error:
                                                "tenant \(claim.tenant) is not in this coordinator's fleet definition"))
                                    continue
                                }
                                if let halt = await monitor.halt {
                                    outcomes.append(
                                        .init(
                                            tenant: tenant.id, state: .pending, error: "stopped by halt: \(halt.reason)"
                                        ))
                                    continue
                                }
                                if Task.isCancelled {
                                    outcomes.append(
                                        .init(
                                            tenant: tenant.id, state: .pending,
                                            error: "interrupted: the coordinator was stopped"))
                                    continue
                                }
                                if await pausedNow().contains(tenant.shard) {
                                    // Not started: its shard became throttled after the claim.
                                    let cause =
                                        await throttle?.cause(tenant.shard)?.description
                                        ?? "shard \(tenant.shard) is throttled"
                                    outcomes.append(
                                        .init(tenant: tenant.id, state: .pending, error: "not started: \(cause)"))
                                    continue
                                }
                                if let outcome = await start(tenant, tally: tally, live: live, deferrals: deferrals) {
                                    outcomes.append(outcome)
                                }
                            }
                            await journal(outcomes)
                            await live.release(ids)
                        }
                        // Stopped by a halt: steps still deferred go back to pending.
                        let left = await deferrals.drain()
                        if !left.isEmpty {
                            await journal(left.map { .init(tenant: $0, state: .pending, error: "stopped by halt") })
                            await live.release(left)
                        }
                    }
                }
                try await group.waitForAll()
            }
            outer.cancelAll()
        }
        return await Result(applied: tally.applied, failures: tally.failures)
    }

    /// Runs a claimed step, or puts it at the end of the queue (nil) when an old transaction holds a lock on one of
    /// its tables (lock-aware deferral; the claim stays held).
    func start(_ tenant: Tenant, tally: Tally, live: LiveClaims, deferrals: Deferrals) async
        -> ControlStore.StepOutcome?
    {
        if let reason = await deferral(tenant, deferrals: deferrals) {
            let count = await deferrals.count(tenant.id) + 1
            let limit = driver.policy.throttle?.maxDeferrals ?? 0
            await deferrals.postpone(
                tenant.id, until: .now + max(driver.policy.lockTimeout, .milliseconds(250)))
            await live.hold([tenant.id])
            driver.observe(.stepDeferred(phase: phase.name, tenant: tenant.id, reason: reason))
            try? await driver.store.event(
                driver.rolloutID, "deferred", phase: phase.name, tenant: tenant.id,
                "deferred to the end of the wave (\(count) of \(limit)): \(reason)")
            return nil
        }
        let (outcome, failure) = await runOne(tenant)
        if let failure {
            await tally.fail(failure)
        } else if outcome.state == .applied {
            await tally.succeed()
        }
        return outcome
    }

    /// Why `tenant`'s step should wait at the end of the queue, if it should: a transaction older than the policy's
    /// `lock_timeout` holds a lock on one of the phase's tables. Only with a `throttle:` (its `max_deferrals`).
    func deferral(_ tenant: Tenant, deferrals: Deferrals) async -> String? {
        guard let spec = driver.policy.throttle, spec.maxDeferrals > 0,
            await deferrals.count(tenant.id) < spec.maxDeferrals
        else { return nil }
        let tables = LockDeferral.tables(of: phase)
        if tables.isEmpty { return nil }
        var inSchema: String?
        if case .schema(let name) = tenant.placement { inSchema = name }
        let schema = inSchema
        let modes = phase.up == nil && phase.backfill != nil ? LockDeferral.backfillConflicts : nil
        let (olderThan, logger) = (driver.policy.lockTimeout, driver.logger)
        return try? await driver.engine.connections.withTenant(tenant) { connection, _ in
            try await LockDeferral.blocker(
                tables: tables, schema: schema, modes: modes, olderThan: olderThan, on: connection, logger: logger)
        }
    }

    /// Applies the phase to one claimed tenant, retrying lock timeouts with backoff, and a lost session (a server
    /// restarting) for up to the connect timeout. Returns the step's outcome for the journal (written by the caller,
    /// with the rest of its batch), and the failure if it failed.
    func runOne(_ tenant: Tenant) async -> (ControlStore.StepOutcome, StepError?) {
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
                // A step boundary: read the halts table (at most every 250 ms), so a lost notification cannot matter.
                if let halt = try await monitor.check(within: .milliseconds(250)) { throw HaltedError(halt: halt) }
                let outcome: TenantStep.Outcome
                do {
                    outcome = try await driver.engine.connections.withTenant(tenant) { connection, pid in
                        await monitor.register(tenant: tenant.id, shard: tenant.shard, pid: pid)
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
                driver.observe(
                    .stepApplied(
                        phase: phase.name, tenant: tenant.id, milliseconds: milliseconds ?? 0,
                        alreadyApplied: outcome == .alreadyApplied))
                return (
                    .init(
                        tenant: tenant.id, state: .applied, durationMilliseconds: milliseconds, retries: attempt - 1),
                    nil
                )
            } catch {
                if let halt = await monitor.halt {
                    // Stopped by a halt: its transaction rolled back; the tenant is as before the phase.
                    return (
                        .init(
                            tenant: tenant.id, state: .pending, error: "stopped by halt: \(halt.reason)",
                            retries: attempt - 1), nil
                    )
                }
                if error is CancellationError || Task.isCancelled {
                    // The run was cancelled (Ctrl-C): the transaction rolled back; the step goes back to pending so
                    // that a rerun, or another coordinator, applies it.
                    return (
                        .init(tenant: tenant.id, state: .pending, error: "interrupted: the coordinator was stopped"),
                        nil
                    )
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
        try? await store.event(
            driver.rolloutID, "step-failed", phase: phase.name, tenant: tenant.id, lastError.description)
        driver.observe(.stepFailed(error: lastError))
        return (
            .init(
                tenant: tenant.id, state: .failed, sqlState: lastError.sqlState, error: lastError.message,
                retries: attempt - 1), lastError
        )
    }

    /// Reverts the phase on these tenants, recording each as `state` (with `note` as its error text); returns the
    /// failures.
    func revert(_ tenants: [Tenant], state: StepState = .reverted, note: String? = nil) async throws -> [StepError] {
        try await dispatch(tenants) { tenant in
            let store = driver.store
            let step = step(tenant)
            var lastError: StepError?
            for attempt in 1...driver.policy.retries.attempts {
                do {
                    _ = try await driver.engine.connections.withTenant(tenant) { connection, _ in
                        try await step.revert(connection)
                    }
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
    var isEmpty: Bool { held.isEmpty }

    func hold(_ tenants: [String]) {
        for tenant in tenants { held[tenant, default: 0] += 1 }
    }

    func release(_ tenants: [String]) {
        for tenant in tenants {
            let count = (held[tenant] ?? 1) - 1
            held[tenant] = count > 0 ? count : nil
        }
    }
}

/// What one coordinator's workers did in a slice.
actor Tally {
    var applied = 0
    var failures: [StepError] = []

    func succeed() { applied += 1 }
    func fail(_ error: StepError) { failures.append(error) }
}
