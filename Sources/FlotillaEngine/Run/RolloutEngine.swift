import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// Applies every phase of a change across a fleet, wave by wave: each phase finishes on every wave before the next
/// phase starts anywhere; within a wave, tenants run in parallel under the global and per-shard caps.
public struct RolloutEngine: Sendable {
    public struct Options: Sendable {
        /// Wait at an approval gate (polling the journal) instead of returning `.awaitingApproval`.
        public var waitForApproval: Bool
        public var approvalPoll: Duration
        /// Approve gates on the spot and say so (the demo does; a person should not).
        public var approveGates: Bool
        /// LISTEN for halts (the halts table is read at every step boundary and every `haltPoll` regardless).
        public var listenForHalts: Bool = true
        public var haltPoll: Duration = .seconds(1)

        public init(
            waitForApproval: Bool = true, approvalPoll: Duration = .milliseconds(500), approveGates: Bool = false
        ) {
            self.waitForApproval = waitForApproval
            self.approvalPoll = approvalPoll
            self.approveGates = approveGates
        }
    }

    let store: ControlStore
    let connections: FleetConnections
    let logger: Logger
    let observe: @Sendable (RolloutEvent) -> Void
    /// This coordinator, in leases and claims: host, process and a random part.
    public let owner: String
    /// How long a lease lives without a heartbeat; another coordinator takes over after it.
    public var leaseTTL: Duration = .seconds(5)
    /// How long a claimed step stays claimed without renewal.
    public var claimTTL: Duration = .seconds(10)

    public init(
        store: ControlStore, connections: FleetConnections, logger: Logger,
        observe: @escaping @Sendable (RolloutEvent) -> Void = { _ in }
    ) {
        self.store = store
        self.connections = connections
        self.logger = logger
        self.observe = observe
        self.owner = CoordinatorIdentity.make().description
    }

    /// Runs the rollout of `change` on the fleet, or resumes the unfinished one of this `kind`.
    ///
    /// A new rollout runs over `tenants` (default: every tenant of the fleet) with `plan`, which must be a plan over
    /// those tenants (`RolloutPlan.narrowed(to:)` gives one from the fleet's), and over the phases `change` holds (a
    /// converge passes a change cut after the last phase the fleet has). Its tenant set is journaled with it
    /// (`flotilla.rollout_tenants`); a resumed rollout runs over that set, never over tenants that appeared since.
    /// A `.rollout` whose latest run of the change is done is `.alreadyDone`; a converge or a retry starts anew.
    /// `parent` is the rollout a retry runs again; `approvedPhases` are gates approved from the start.
    public func run(
        change: Change, policy: Policy, plan: RolloutPlan, kind: RolloutKind = .rollout, tenants: [Tenant]? = nil,
        parent: String? = nil, approvedPhases: [String] = [], options: Options = Options()
    ) async throws -> RolloutOutcome {
        let fleet = connections.fleet
        try await store.migrate()
        var record = try await store.unfinishedRollout(fleet: fleet.name, change: change.id, kind: kind)
        if let halt = try await store.activeHalts(fleet: fleet.name).first {
            return .blocked(rollout: record?.id, halt: halt)
        }
        let resumed = record != nil
        if record == nil, kind == .rollout,
            let latest = try await store.latestRollout(fleet: fleet.name, change: change.id, kind: kind),
            latest.state == .done
        {
            return .alreadyDone(rollout: latest.id)
        }
        var createdHere = false
        if record == nil {
            let id = Self.newRolloutID(change: change.id)
            do {
                try await store.createRollout(
                    id: id, fleet: fleet.name, change: change.id, policy: policy.name,
                    planJSON: PlanRenderer.json(plan), kind: kind, parent: parent, tenants: tenants ?? fleet.tenants,
                    approvedPhases: approvedPhases)
                record = try await store.rollout(id: id)
                createdHere = true
            } catch  where DatabaseFailure(error).sqlState == "23505" {
                // Another coordinator created it in the same instant (one unfinished rollout per change and kind):
                // that one is the rollout.
                record = try await store.unfinishedRollout(fleet: fleet.name, change: change.id, kind: kind)
            }
        }
        guard let record else { throw RolloutError.message("could not create the rollout in the control store") }
        let rolloutID = record.id
        // Just created here: its snapshot is `tenants`, planned by the caller. Otherwise the journal's snapshot.
        let (runTenants, runPlan) =
            createdHere
            ? (tenants, plan)
            : try await scope(of: rolloutID, change: change, policy: policy, plan: plan, tenants: tenants)
        let monitor = HaltMonitor(
            store: store, fleet: fleet.name, listen: options.listenForHalts, pollInterval: options.haltPoll)
        let connections = self.connections
        await monitor.setCanceller { shard, pid in await connections.cancelBackend(shard: shard, pid: pid) }
        // Webhooks (`notify:`) hear the run's turning points in the background; they are drained when it ends.
        let notifier = notifier(rolloutID: rolloutID, change: change, policy: policy)
        let driver = Driver(
            engine: observing(through: notifier), rolloutID: rolloutID, change: change, policy: policy,
            plan: runPlan, options: options, monitor: monitor, tenants: runTenants)
        return try await notifier.flushing {
            try await withThrowingTaskGroup(of: RolloutOutcome?.self) { group in
                group.addTask {
                    await monitor.run()
                    return nil
                }
                group.addTask { try await lead(driver, resumed: resumed) }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                throw CancellationError()
            }
        }
    }

    /// Drives the rollout while holding its lease. When another live coordinator holds the lease, works its slices as
    /// a follower and takes the lease over when that coordinator stops renewing it (it died), then drives from the
    /// journal.
    func lead(_ driver: Driver, resumed: Bool) async throws -> RolloutOutcome {
        var followed = false
        while true {
            do {
                return try await leadOnce(driver, resumed: resumed, followed: &followed)
            } catch RolloutError.lostLease(let id) {
                // Too slow to renew (a stalled machine): another coordinator drives now. Follow it, and take the
                // lease back should it stop renewing.
                logger.warning("lost the lease of rollout \(id); following the coordinator that took it over")
                await driver.monitor.cancelInFlight()
                followed = true
            }
        }
    }

    private func leadOnce(_ driver: Driver, resumed: Bool, followed: inout Bool) async throws -> RolloutOutcome {
        let rolloutID = driver.rolloutID
        var announced = false
        try await releaseDeadOwners(rolloutID)
        while try await !store.acquireLease(rolloutID, owner: owner, ttl: leaseTTL) {
            if let record = try await store.rollout(id: rolloutID), let outcome = Self.finishedOutcome(record) {
                return outcome
            }
            followed = true
            if !announced {
                observe(.following(rollout: rolloutID))
                announced = true
            }
            if let halt = try await driver.monitor.check() {
                return .halted(rollout: rolloutID, reason: halt.description)
            }
            if let item = try await store.openWork(fleet: connections.fleet.name).first(where: {
                $0.rollout == rolloutID
            }),
                let phase = driver.change.phase(named: item.phase)
            {
                _ = try await WaveRunner(driver: driver, phase: phase).runSlice(wave: item.wave, shard: item.shard)
            } else {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        // The lease is ours, but the rollout may have ended meanwhile: finished, or stopped (halted) by the
        // coordinator this one followed. Its outcome stands; only a person resumes a stopped rollout.
        if let record = try await store.rollout(id: rolloutID),
            record.state.isClosed || (followed && record.state == .halted)
        {
            try? await uncancelled { try await self.store.releaseLease(rolloutID, owner: self.owner) }
            return Self.finishedOutcome(record)
                ?? .halted(rollout: rolloutID, reason: record.reason ?? record.state.rawValue)
        }
        let resuming = resumed || followed
        try await store.setState(rolloutID, .running)
        try await store.event(
            rolloutID, resuming ? "resumed" : "started",
            "\(resuming ? "resumed" : "started") by \(owner) with policy \(driver.policy.name)")
        observe(.started(rollout: rolloutID, resumed: resuming))
        let store = self.store
        let owner = self.owner
        let ttl = leaseTTL
        do {
            let outcome = try await withThrowingTaskGroup(of: RolloutOutcome?.self) { group in
                group.addTask {
                    // The lease's heartbeat; losing it means another coordinator took over: stop driving.
                    while true {
                        try await Task.sleep(for: ttl / 3)
                        guard try await store.acquireLease(rolloutID, owner: owner, ttl: ttl) else {
                            throw RolloutError.lostLease(rolloutID)
                        }
                    }
                }
                group.addTask { try await driver.drive() }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                throw CancellationError()
            }
            try? await uncancelled { try await store.releaseLease(rolloutID, owner: owner) }
            return outcome
        } catch {
            try? await uncancelled { try await store.releaseLease(rolloutID, owner: owner) }
            throw error
        }
    }

    /// A coordinator of this host whose process is gone (killed, crashed) holds nothing any more: its lease and its
    /// claims are freed at once instead of waiting for them to expire. Owners on other hosts expire as usual.
    func releaseDeadOwners(_ rolloutID: String) async throws {
        for other in try await store.owners(rolloutID) where other != owner {
            guard let holder = CoordinatorIdentity(other), holder.isGoneFromThisHost else { continue }
            logger.notice("coordinator \(other) is no longer running on this host; taking over its lease and claims")
            try await store.releaseDeadOwner(rolloutID, owner: other)
            try? await store.event(
                rolloutID, "takeover", "coordinator \(other) is gone; its lease and claims were freed")
        }
    }

    /// The outcome of a rollout another coordinator finished.
    static func finishedOutcome(_ record: ControlStore.RolloutRecord) -> RolloutOutcome? {
        switch record.state {
        case .done: return .done(rollout: record.id)
        case .reverted: return .reverted(rollout: record.id, reason: record.reason ?? "reverted")
        case .halted: return .halted(rollout: record.id, reason: record.reason ?? "halted")
        default: return nil
        }
    }

    static func newRolloutID(change: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let suffix = String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        return "r\(formatter.string(from: Date()))-\(suffix)"
    }
}

/// Who a coordinator is, in leases and claims: `host:pid:nonce` (the nonce tells apart two engines of one process).
struct CoordinatorIdentity: Sendable, CustomStringConvertible {
    var host: String
    var pid: Int32
    var nonce: String

    /// A new identity of this process: each engine has a nonce of its own, so two engines in one process never share
    /// a lease or a claim.
    static func make() -> CoordinatorIdentity {
        CoordinatorIdentity(
            host: ProcessInfo.processInfo.hostName, pid: ProcessInfo.processInfo.processIdentifier,
            nonce: String(UInt32.random(in: 0..<UInt32.max), radix: 16))
    }

    init(host: String, pid: Int32, nonce: String) {
        self.host = host
        self.pid = pid
        self.nonce = nonce
    }

    /// Parses `host:pid:nonce`; a host name may itself hold colons (IPv6), so the last two parts are taken.
    init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]) else { return nil }
        host = parts.dropLast(2).joined(separator: ":")
        self.pid = pid
        nonce = String(parts[parts.count - 1])
    }

    var description: String { "\(host):\(pid):\(nonce)" }

    /// This host, and no process with that pid exists any more.
    var isGoneFromThisHost: Bool {
        guard host == ProcessInfo.processInfo.hostName, pid > 0 else { return false }
        if pid == ProcessInfo.processInfo.processIdentifier { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}

public enum RolloutError: Error, Sendable, CustomStringConvertible {
    case alreadyDriven(String)
    case lostLease(String)
    case message(String)

    public var description: String {
        switch self {
        case .alreadyDriven(let id): return "rollout \(id) is being driven by another coordinator right now"
        case .lostLease(let id): return "lost the lease of rollout \(id) to another coordinator"
        case .message(let text): return text
        }
    }
}
