import FlotillaModel
import FlotillaPlan
import Foundation

extension RolloutEngine {
    /// Works the fleet's running rollouts as an extra coordinator: claims tenant steps of the slice each rollout's
    /// leader is on, under the same caps, and obeys halts. Returns when `once` and nothing is left to do, or when
    /// cancelled. `definitions` gives a rollout's change and policy by their ids.
    public func work(
        once: Bool, idlePoll: Duration = .milliseconds(300),
        definitions: @escaping @Sendable (_ change: String, _ policy: String) throws -> (Change, Policy)
    ) async throws {
        let fleet = connections.fleet
        try await store.migrate()
        let monitor = HaltMonitor(store: store, fleet: fleet.name)
        let connections = self.connections
        await monitor.setCanceller { shard, pid in await connections.cancelBackend(shard: shard, pid: pid) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await monitor.run() }
            group.addTask {
                var idleSince = ContinuousClock.now
                var announced: Set<String> = []
                // Per rollout: its tenants (the snapshot it started with) and its plan, read once.
                var scopes: [String: (tenants: [Tenant]?, plan: RolloutPlan)] = [:]
                while !Task.isCancelled {
                    if try await monitor.check() != nil {
                        if once { return }
                        try await Task.sleep(for: idlePoll)
                        continue
                    }
                    let items = try await store.openWork(fleet: fleet.name)
                    guard let item = items.first else {
                        if once, ContinuousClock.now - idleSince > .seconds(2) { return }
                        try await Task.sleep(for: idlePoll)
                        continue
                    }
                    idleSince = ContinuousClock.now
                    let (change, policy) = try definitions(item.change, item.policy)
                    guard let phase = change.phase(named: item.phase) else {
                        throw RolloutError.message(
                            "rollout \(item.rollout) is in phase \(item.phase), which \(change.id) here does not have")
                    }
                    let scope: (tenants: [Tenant]?, plan: RolloutPlan)
                    if let known = scopes[item.rollout] {
                        scope = known
                    } else {
                        let snapshot = try await store.tenantSnapshot(item.rollout)
                        var planned = fleet
                        if !snapshot.isEmpty { planned.tenants = snapshot }
                        let plan =
                            try await storedPlan(item.rollout)
                            ?? RolloutPlan.make(fleet: planned, change: change, policy: policy)
                        scope = (snapshot.isEmpty ? nil : snapshot, plan)
                        scopes[item.rollout] = scope
                    }
                    let driver = Driver(
                        engine: self, rolloutID: item.rollout, change: change, policy: policy, plan: scope.plan,
                        options: Options(), monitor: monitor, tenants: scope.tenants)
                    if announced.insert(item.rollout).inserted { observe(.following(rollout: item.rollout)) }
                    _ = try await WaveRunner(driver: driver, phase: phase).runSlice(wave: item.wave, shard: item.shard)
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}
