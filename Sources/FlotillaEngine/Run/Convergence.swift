import FlotillaModel

/// What `flotilla converge` brings up, worked out from a census: for each change (in `requires` order), the phases
/// the fleet has reached and the lagging tenants that lack some of them. Pure: no database.
///
/// A phase is **reached** when the fleet's latest rollout of its change (kind `rollout`, in the journal) has finished
/// it on every one of its tenants (applied, or quarantined): a converge never goes past a contract the fleet has not
/// reached, nor into a gated phase that was not approved and finished. A change the journal has no rollout of (applied
/// before, or by another tool) is judged from the ledgers: a phase at least half of the tenants with some history have
/// live (a new tenant has no say, nor has a tenant named with `--tenant`). Only a change's leading reached phases are
/// applied (phases run in order). A drifted or unreachable tenant is never touched: it is reported.
public struct Convergence: Sendable {
    /// One converge rollout: a change narrowed to its reached phases, over the tenants that lack some of them.
    public struct Step: Sendable {
        /// The change with only its reached leading phases.
        public var change: Change
        public var tenants: [Tenant]
    }

    public var steps: [Step]
    /// Tenants left alone because their ledger disagrees with the definitions.
    public var drifted: [TenantStanding]
    /// Tenants that could not be read.
    public var unreachable: [TenantStanding]
    /// The phases the fleet has reached, in order.
    public var reachedPhases: [PhaseRef]

    public var isEmpty: Bool { steps.isEmpty }

    /// - Parameters:
    ///   - changes: every change of the fleet, each after what it requires.
    ///   - only: converge only these tenant ids (nil: every lagging tenant).
    ///   - finished: for each change the fleet has rolled out, the phases its latest rollout finished on every one of its
    ///     tenants (``ControlStore/phasesFinished(fleet:changes:)``); a change without an entry is judged from the
    ///     ledgers.
    public static func make(
        report: CensusReport, changes: [Change], only: Set<String>? = nil, finished: [String: Set<String>] = [:]
    ) -> Convergence {
        let judged = report.tenants.filter { $0.isReachable && !$0.isDrifted }
        // Where the fleet is, is read from the tenants that have some history: a new tenant (no ledger, or nothing
        // live in it) has no say, nor has a tenant named to be converged.
        let voters = judged.filter { !$0.live.isEmpty && !(only?.contains($0.tenant.id) ?? false) }
        var reached: [PhaseRef] = []
        var prefixes: [String: [Phase]] = [:]
        for change in changes {
            var prefix: [Phase] = []
            for phase in change.phases {
                let ref = PhaseRef(change: change.id, phase: phase.name)
                if let done = finished[change.id] {
                    guard done.contains(phase.name) else { break }
                } else {
                    let applied = voters.reduce(0) { $0 + ($1.has(ref) ? 1 : 0) }
                    guard applied > 0, applied * 2 >= voters.count else { break }
                }
                prefix.append(phase)
                reached.append(ref)
            }
            prefixes[change.id] = prefix
        }
        // Each candidate's live phases, as the converge goes: a change's requirements must be whole on a tenant (or
        // become whole by an earlier step) before the change is applied there.
        let candidates = judged.filter { only?.contains($0.tenant.id) ?? true }
        var has: [String: Set<PhaseRef>] = [:]
        for standing in candidates { has[standing.tenant.id] = Set(standing.live.keys) }
        let byID = Dictionary(changes.map { ($0.id, $0) }) { first, _ in first }
        var steps: [Step] = []
        for change in changes {
            guard let prefix = prefixes[change.id], !prefix.isEmpty else { continue }
            let refs = prefix.map { PhaseRef(change: change.id, phase: $0.name) }
            var tenants: [Tenant] = []
            for standing in candidates {
                let id = standing.tenant.id
                let live = has[id] ?? []
                if refs.allSatisfy(live.contains) { continue }
                // What the change requires must be whole on the tenant, or become whole by an earlier step.
                let ready = change.requires.allSatisfy { required in
                    guard let requiredChange = byID[required] else { return true }
                    return requiredChange.phases.allSatisfy {
                        live.contains(PhaseRef(change: required, phase: $0.name))
                    }
                }
                guard ready else { continue }
                tenants.append(standing.tenant)
                has[id, default: []].formUnion(refs)
            }
            if tenants.isEmpty { continue }
            var narrowed = change
            narrowed.phases = prefix
            steps.append(Step(change: narrowed, tenants: tenants))
        }
        return Convergence(
            steps: steps,
            drifted: report.tenants.filter { $0.isReachable && $0.isDrifted && (only?.contains($0.tenant.id) ?? true) },
            unreachable: report.tenants.filter { !$0.isReachable && (only?.contains($0.tenant.id) ?? true) },
            reachedPhases: reached)
    }
}

extension ControlStore {
    /// For each of `changes` that the fleet has a rollout of (kind `rollout`): the phases its latest rollout has
    /// finished on every one of its tenants (applied or quarantined). A reverted or reverting rollout has finished
    /// none.
    public func phasesFinished(fleet: String, changes: [Change]) async throws -> [String: Set<String>] {
        var finished: [String: Set<String>] = [:]
        for change in changes {
            guard let record = try await latestRollout(fleet: fleet, change: change.id, kind: .rollout) else {
                continue
            }
            var phases: Set<String> = []
            if record.state != .reverting && record.state != .reverted {
                let steps = try await steps(record.id)
                for phase in change.phases {
                    let ofPhase = steps.filter { $0.phase == phase.name }
                    guard !ofPhase.isEmpty, ofPhase.allSatisfy({ $0.state == .applied || $0.state == .quarantined })
                    else { break }
                    phases.insert(phase.name)
                }
            }
            finished[change.id] = phases
        }
        return finished
    }
}
