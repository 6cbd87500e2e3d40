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

        public init(waitForApproval: Bool = true, approvalPoll: Duration = .milliseconds(500), approveGates: Bool = false) {
            self.waitForApproval = waitForApproval
            self.approvalPoll = approvalPoll
            self.approveGates = approveGates
        }
    }

    let store: ControlStore
    let connections: FleetConnections
    let logger: Logger
    let observe: @Sendable (RolloutEvent) -> Void

    public init(
        store: ControlStore, connections: FleetConnections, logger: Logger,
        observe: @escaping @Sendable (RolloutEvent) -> Void = { _ in }
    ) {
        self.store = store
        self.connections = connections
        self.logger = logger
        self.observe = observe
    }

    /// Runs the rollout of `change` on the fleet, or resumes the unfinished one.
    public func run(change: Change, policy: Policy, plan: RolloutPlan, options: Options = Options()) async throws
        -> RolloutOutcome
    {
        let fleet = connections.fleet
        try await store.migrate()
        var record = try await store.unfinishedRollout(fleet: fleet.name, change: change.id)
        if let halt = try await store.activeHalts(fleet: fleet.name).first {
            return .blocked(rollout: record?.id, halt: halt)
        }
        let resumed = record != nil
        if record == nil, let latest = try await store.latestRollout(fleet: fleet.name, change: change.id),
            latest.state == "done"
        {
            return .alreadyDone(rollout: latest.id)
        }
        if record == nil {
            let id = Self.newRolloutID(change: change.id)
            try await store.createRollout(
                id: id, fleet: fleet.name, change: change.id, policy: policy.name, planJSON: PlanRenderer.json(plan))
            record = try await store.rollout(id: id)
        }
        guard let record else { throw RolloutError.message("could not create the rollout in the control store") }
        let rolloutID = record.id
        return try await store.client.withConnection { lock in
            // One coordinator drives a rollout at a time: a session advisory lock, released if this process dies.
            let key = "flotilla:rollout:" + rolloutID
            let got = try await SQLRunner.firstValue("pg_try_advisory_lock(hashtext('\(key)'))", on: lock, logger: logger)
            guard got == "true" else { throw RolloutError.alreadyDriven(rolloutID) }
            do {
                try await store.setState(rolloutID, "running")
                try await store.event(rolloutID, resumed ? "resumed" : "started", "\(resumed ? "resumed" : "started") with policy \(policy.name)")
                observe(.started(rollout: rolloutID, resumed: resumed))
                let monitor = HaltMonitor(
                    store: store, fleet: fleet.name, listen: options.listenForHalts, pollInterval: options.haltPoll)
                let connections = self.connections
                await monitor.setCanceller { shard, pid in await connections.cancelBackend(shard: shard, pid: pid) }
                let driver = Driver(
                    engine: self, rolloutID: rolloutID, change: change, policy: policy, plan: plan, options: options,
                    monitor: monitor)
                let outcome = try await withThrowingTaskGroup(of: RolloutOutcome?.self) { group in
                    group.addTask {
                        await monitor.run()
                        return nil
                    }
                    group.addTask { try await driver.drive() }
                    defer { group.cancelAll() }
                    while let result = try await group.next() {
                        if let result { return result }
                    }
                    throw CancellationError()
                }
                try? await SQLRunner.firstValue("pg_advisory_unlock(hashtext('\(key)'))", on: lock, logger: logger)
                return outcome
            } catch {
                try? await SQLRunner.firstValue("pg_advisory_unlock(hashtext('\(key)'))", on: lock, logger: logger)
                throw error
            }
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

public enum RolloutError: Error, Sendable, CustomStringConvertible {
    case alreadyDriven(String)
    case message(String)

    public var description: String {
        switch self {
        case .alreadyDriven(let id): return "rollout \(id) is being driven by another coordinator right now"
        case .message(let text): return text
        }
    }
}
