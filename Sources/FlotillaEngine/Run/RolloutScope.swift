import FlotillaModel
import FlotillaPlan
import Foundation

extension RolloutPlan {
    /// This plan narrowed to the tenants `ids`: each wave (and each of its shard slices) keeps its members among
    /// them, in order; a wave left with no tenant goes. For a rollout over part of a fleet (a converge, a retry) with
    /// the waves the whole fleet's plan gives those tenants.
    public func narrowed(to ids: Set<String>) -> RolloutPlan {
        var plan = self
        plan.waves = waves.compactMap { wave in
            var wave = wave
            wave.tenants = wave.tenants.filter(ids.contains)
            if wave.tenants.isEmpty { return nil }
            wave.slices = wave.slices.compactMap { slice in
                var slice = slice
                slice.tenants = slice.tenants.filter(ids.contains)
                return slice.tenants.isEmpty ? nil : slice
            }
            return wave
        }
        plan.tenantCount = plan.waves.reduce(0) { $0 + $1.tenants.count }
        return plan
    }

    /// Every tenant id the plan's waves hold.
    var plannedTenantIDs: Set<String> { Set(waves.lazy.flatMap(\.tenants)) }
}

extension RolloutEngine {
    /// The tenants and plan a rollout runs with: its snapshot in the journal, planned again when the plan the caller
    /// gives is over other tenants (the fleet changed since the rollout started). A rollout from before snapshots
    /// keeps the caller's tenants and plan.
    func scope(
        of rollout: String, change: Change, policy: Policy, plan: RolloutPlan, tenants: [Tenant]?
    ) async throws -> (tenants: [Tenant]?, plan: RolloutPlan) {
        let snapshot = try await store.tenantSnapshot(rollout)
        if snapshot.isEmpty { return (tenants, plan) }
        let ids = Set(snapshot.map(\.id))
        if plan.plannedTenantIDs == ids { return (snapshot, plan) }
        var fleet = connections.fleet
        fleet.tenants = snapshot
        if let replanned = try? RolloutPlan.make(fleet: fleet, change: change, policy: policy) {
            return (snapshot, replanned)
        }
        // Planning the snapshot alone fails when the policy's waves name tenants or labels it does not hold (a
        // converge, a retry): the plan the rollout started with, narrowed to it.
        if let stored = try await storedPlan(rollout) {
            return (snapshot, stored.narrowed(to: ids))
        }
        return (snapshot, plan.narrowed(to: ids))
    }
}
