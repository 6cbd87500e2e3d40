import FlotillaModel
import FlotillaPlan
import Foundation
import PostgresNIO

/// Why `flotilla retry` cannot run: each names the rollout or the tenants it concerns.
public enum RetryError: Error, Sendable, Hashable, CustomStringConvertible {
    case noSuchRollout(String)
    /// The rollout is still being worked (running, at a gate, paused, reverting): its tenants are not set aside yet.
    case notFinished(rollout: String, state: RolloutState)
    /// The definitions given are not the rollout's fleet and change.
    case otherDefinitions(rollout: String, fleet: String, change: String)
    /// `--tenant` named tenants that are not quarantined or failed in the rollout.
    case notSetAside(rollout: String, tenants: [String], setAside: [String])
    /// Another retry of the same change has not finished: finish it (or revert it) first.
    case otherRetryUnfinished(retry: String, parent: String?)

    public var description: String {
        switch self {
        case .noSuchRollout(let id):
            return "no rollout \(id)"
        case .notFinished(let id, let state):
            return
                "rollout \(id) is \(state.rawValue); retry runs the tenants of a finished or halted rollout (halt it first, or let it finish)"
        case .otherDefinitions(let id, let fleet, let change):
            return "rollout \(id) rolled change \(change) on fleet \(fleet), not the definitions given"
        case .notSetAside(let id, let tenants, let setAside):
            let list = setAside.isEmpty ? "none" : Self.firstOf(setAside)
            return
                "tenant\(tenants.count == 1 ? "" : "s") \(Self.firstOf(tenants)) \(tenants.count == 1 ? "is" : "are") not quarantined or failed in rollout \(id) (quarantined or failed: \(list))"
        case .otherRetryUnfinished(let retry, let parent):
            return
                "retry \(retry)\(parent.map { " of rollout \($0)" } ?? "") of the same change has not finished; run `flotilla retry \(parent ?? retry)` to finish it, or `flotilla revert \(retry)`"
        }
    }

    static func firstOf(_ ids: [String], limit: Int = 20) -> String {
        let shown = ids.prefix(limit).joined(separator: ", ")
        return ids.count > limit ? "\(shown) and \(ids.count - limit) more" : shown
    }
}

/// What a retry of a rollout would run: the parent, its set-aside tenants to run again, and the phases they get.
public struct RetryScope: Sendable, Hashable {
    public var parent: ControlStore.RolloutRecord
    /// The tenants to run again, from the parent's snapshot, in its order.
    public var tenants: [Tenant]
    /// The parent's change cut after the last phase some tenant got in the parent: a retry never goes past it.
    public var change: Change
    /// An unfinished retry of these tenants to resume, if there is one.
    public var resuming: String?
}

extension ControlStore {
    /// The tenants with a step quarantined or failed in `rollout`, by phase and wave of their first such step — but
    /// not those a finished retry of it applied every phase of (they are settled).
    public func setAsideTenants(_ rollout: String) async throws -> [String] {
        let rows = try await client.query(
            """
            SELECT s.tenant FROM flotilla.steps s
            WHERE s.rollout_id = \(rollout) AND s.state IN ('quarantined', 'failed')
              AND NOT EXISTS (
                SELECT 1 FROM flotilla.rollouts r JOIN flotilla.steps c ON c.rollout_id = r.id
                WHERE r.parent_id = \(rollout) AND r.kind = \(RolloutKind.retry) AND r.state = \(RolloutState.done)
                  AND c.tenant = s.tenant
                GROUP BY r.id HAVING bool_and(c.state = 'applied')
              )
            GROUP BY s.tenant ORDER BY min(s.phase_index), min(s.wave_index), s.tenant
            """, logger: logger)
        var result: [String] = []
        for try await tenant in rows.decode(String.self) { result.append(tenant) }
        return result
    }

    /// The phases of `rollout` that some tenant holds applied in its journal.
    func appliedPhases(_ rollout: String) async throws -> Set<String> {
        let rows = try await client.query(
            "SELECT DISTINCT phase FROM flotilla.steps WHERE rollout_id = \(rollout) AND state = 'applied'",
            logger: logger)
        var result: Set<String> = []
        for try await phase in rows.decode(String.self) { result.insert(phase) }
        return result
    }
}

extension RolloutEngine {
    /// What `retry` would run for rollout `parent`, reading only the control store: its quarantined or failed
    /// tenants (`only` narrows them; naming one that is not is `RetryError.notSetAside`), and the phases up to the
    /// last one the parent applied anywhere. Nil tenants to run: an empty `tenants`.
    public func retryScope(of parent: String, change: Change, only: [String]? = nil) async throws -> RetryScope {
        try await store.migrate()
        guard let record = try await store.rollout(id: parent) else { throw RetryError.noSuchRollout(parent) }
        let fleet = connections.fleet
        guard record.fleet == fleet.name, record.change == change.id else {
            throw RetryError.otherDefinitions(rollout: parent, fleet: record.fleet, change: record.change)
        }
        guard record.state.isFinished else { throw RetryError.notFinished(rollout: parent, state: record.state) }
        var resuming: String?
        if let open = try await store.unfinishedRollout(fleet: fleet.name, change: change.id, kind: .retry) {
            guard open.parentID == parent else {
                throw RetryError.otherRetryUnfinished(retry: open.id, parent: open.parentID)
            }
            resuming = open.id
        }
        let setAside = try await store.setAsideTenants(parent)
        var ids = setAside
        if let only, !only.isEmpty {
            let known = Set(setAside)
            let strangers = only.filter { !known.contains($0) }
            if !strangers.isEmpty {
                throw RetryError.notSetAside(rollout: parent, tenants: strangers, setAside: setAside)
            }
            let wanted = Set(only)
            ids = setAside.filter(wanted.contains)
        }
        let snapshot = try await store.tenantSnapshot(parent)
        let pool = snapshot.isEmpty ? fleet.tenants : snapshot
        let wanted = Set(ids)
        let tenants = pool.filter { wanted.contains($0.id) }
        let applied = try await store.appliedPhases(parent)
        var cut = change
        if let last = change.phases.lastIndex(where: { applied.contains($0.name) }) {
            cut.phases = Array(change.phases[...last])
        } else {
            cut.phases = []
        }
        return RetryScope(parent: record, tenants: tenants, change: cut, resuming: resuming)
    }

    /// Runs the quarantined or failed tenants of rollout `scope.parent` again, as a rollout of kind `retry` over
    /// them: phase by phase up to the last phase the parent applied, each tenant from where it stopped (a phase its
    /// ledger holds is recorded applied, not run again), under `policy` (the parent's, unless another is given), in
    /// the waves the fleet's plan gives them, with the parent's approved gates. Nil when there is nothing to retry.
    public func retry(_ scope: RetryScope, policy: Policy, options: Options = Options()) async throws
        -> RolloutOutcome?
    {
        if scope.resuming == nil, scope.tenants.isEmpty || scope.change.phases.isEmpty { return nil }
        var planned = connections.fleet
        let snapshot = try await store.tenantSnapshot(scope.parent.id)
        if !snapshot.isEmpty { planned.tenants = snapshot }
        let ids = Set(scope.tenants.map(\.id))
        var plan: RolloutPlan
        if let whole = try? RolloutPlan.make(fleet: planned, change: scope.change, policy: policy) {
            plan = whole.narrowed(to: ids)
        } else if let stored = try await storedPlan(scope.parent.id) {
            // The policy no longer plans the parent's tenants (a wave naming a tenant that is gone): the waves the
            // parent ran with.
            plan = stored.narrowed(to: ids)
            let names = Set(scope.change.phases.map(\.name))
            plan.phases = plan.phases.filter { names.contains($0.name) }
        } else {
            throw RolloutError.message("rollout \(scope.parent.id): no plan to retry its tenants with")
        }
        let outcome = try await run(
            change: scope.change, policy: policy, plan: plan, kind: .retry, tenants: scope.tenants,
            parent: scope.parent.id, approvedPhases: scope.parent.approvedPhases, options: options)
        if scope.resuming == nil, outcome.rolloutID != "-" {
            try? await store.event(
                scope.parent.id, "retried",
                "\(scope.tenants.count) quarantined or failed tenant(s) run again by retry \(outcome.rolloutID)")
        }
        return outcome
    }
}
