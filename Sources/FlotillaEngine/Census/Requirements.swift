import FlotillaModel
import Logging

/// A tenant that lacks a change the rolled-out change requires: which ones, read from its ledger.
public struct LaggingTenant: Sendable, Hashable {
    public var tenant: String
    public var shard: String
    /// The required changes the tenant lacks (some phase of each is not live in its ledger), in `requires` order.
    public var missing: [String]
    /// The tenant could not be read: whether it lags is unknown, so it counts as lagging.
    public var unreachable: Bool
}

extension Census {
    /// The tenants of `tenants` that lack, wholly or in part, one of `required` (the changes a change requires,
    /// directly or through others), read from their ledgers. A tenant that cannot be read is listed too: it cannot
    /// be shown to have them.
    public func lagging(_ tenants: [Tenant], required: [Change]) async -> [LaggingTenant] {
        guard !required.isEmpty else { return [] }
        let report = await run(tenants: tenants, changes: required)
        return report.tenants.compactMap { standing in
            if !standing.isReachable {
                return LaggingTenant(
                    tenant: standing.tenant.id, shard: standing.tenant.shard, missing: required.map(\.id),
                    unreachable: true)
            }
            let missing = required.filter { !standing.hasAllPhases(of: $0) }.map(\.id)
            if missing.isEmpty { return nil }
            return LaggingTenant(
                tenant: standing.tenant.id, shard: standing.tenant.shard, missing: missing, unreachable: false)
        }
    }
}

extension ControlStore {
    /// Journals that a rollout left `tenants` out of its tenant set because they lack a required change
    /// (`rollout --skip-lagging`).
    public func recordSetAside(_ rollout: String, tenants: [LaggingTenant]) async throws {
        guard !tenants.isEmpty else { return }
        let names = tenants.prefix(20).map(\.tenant).joined(separator: ", ")
        let more = tenants.count > 20 ? " and \(tenants.count - 20) more" : ""
        try await event(
            rollout, "set-aside",
            "\(tenants.count) tenant\(tenants.count == 1 ? "" : "s") left out, lacking a required change: \(names)\(more); flotilla converge brings them up"
        )
    }
}
