import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import Foundation
import Logging

/// What a revert by hand did.
public struct RevertReport: Sendable, Hashable, Codable {
    public struct PhaseRevert: Sendable, Hashable, Codable {
        public var phase: String
        /// Newest wave first, as reverted.
        public var waves: [WaveTenants]
        public var tenantCount: Int { waves.reduce(0) { $0 + $1.tenants.count } }
    }

    public struct WaveTenants: Sendable, Hashable, Codable {
        public var wave: String
        public var tenants: [String]
    }

    public var rollout: String
    /// In the order they were reverted: the latest phase first.
    public var phases: [PhaseRevert]
}

/// How `flotilla revert` ended.
public enum RevertOutcome: Sendable, Hashable {
    case reverted(RevertReport)
    /// No tenant has any of those phases from this rollout.
    case nothingToRevert(rollout: String)
    /// Not started, and nothing touched: an irreversible phase, a changed definition, an active halt.
    case refused(rollout: String, reason: String)

    /// 0 reverted or nothing to do, 3 refused.
    public var exitCode: Int32 {
        switch self {
        case .reverted, .nothingToRevert: return 0
        case .refused: return 3
        }
    }
}

extension RolloutEngine {
    /// Reverts a rollout by hand, phase by phase in reverse order — every phase it applied, or with `phase` that
    /// phase and every later one — each on the tenants that got it in this rollout, newest wave first, under the
    /// policy's caps, each tenant in its own transaction (`down`, or the backfill's `revert`, and the ledger's
    /// `reverted_at`). Refuses, touching nothing, when a phase to revert is not reversible, when the change's
    /// definition differs from what was rolled out, or (unless `ignoreHalts`) while the fleet is halted.
    public func revert(
        rollout id: String, change: Change, policy: Policy, phase: String? = nil, ignoreHalts: Bool = false
    ) async throws -> RevertOutcome {
        try await store.migrate()
        guard let record = try await store.rollout(id: id) else { throw RolloutError.message("no rollout \(id)") }
        let fleet = connections.fleet
        guard record.fleet == fleet.name, record.change == change.id else {
            throw RolloutError.message(
                "rollout \(id) rolled change \(record.change) on fleet \(record.fleet), not \(change.id) on \(fleet.name)"
            )
        }
        var first = 0
        if let phase {
            guard let index = change.phases.firstIndex(where: { $0.name == phase }) else {
                throw RolloutError.message(
                    "change \(change.id) has no phase \(phase) (phases: \(change.phases.map(\.name).joined(separator: ", ")))"
                )
            }
            first = index
        }
        // The rollout's own tenants (its snapshot), whatever the fleet holds now.
        let snapshot = try await store.tenantSnapshot(id)
        var planned = fleet
        if !snapshot.isEmpty { planned.tenants = snapshot }
        let plan = try await storedPlan(id) ?? RolloutPlan.make(fleet: planned, change: change, policy: policy)
        for planned in plan.phases {
            if let current = change.phase(named: planned.name), current.checksum != planned.checksum {
                return .refused(
                    rollout: id,
                    reason:
                        "phase \(planned.name) of \(change.id) has changed since rollout \(id) applied it (checksum \(planned.checksum.prefix(12)), now \(current.checksum.prefix(12))); restore the definition it was rolled out with"
                )
            }
        }
        let steps = try await store.steps(id)
        let phases = change.phases[first...].reversed().filter { candidate in
            steps.contains { $0.phase == candidate.name && $0.state == .applied }
        }
        guard !phases.isEmpty else { return .nothingToRevert(rollout: id) }
        if let stuck = phases.first(where: { !($0.reversible && ($0.down != nil || $0.backfill != nil)) }) {
            let later = change.phases.firstIndex(of: stuck).map { change.phases[($0 + 1)...].map(\.name) } ?? []
            return .refused(
                rollout: id,
                reason:
                    "phase \(stuck.name) is not reversible (reversible: false, or no down), so it and the phases before it cannot be reverted automatically; nothing was reverted"
                    + (later.isEmpty ? "" : ". Later phases alone: --phase \(later[0])"))
        }
        if !ignoreHalts, let halt = try await store.activeHalts(fleet: fleet.name).first {
            return .refused(
                rollout: id,
                reason:
                    "fleet \(fleet.name) is \(halt.description); nothing was reverted. Lift it with flotilla resume, or revert anyway with --ignore-halt"
            )
        }
        // The rollout's lease, as a coordinator holds it: no other coordinator drives it while this reverts.
        guard try await store.acquireLease(id, owner: owner, ttl: leaseTTL) else {
            throw RolloutError.alreadyDriven(id)
        }
        let store = self.store
        let owner = self.owner
        let ttl = leaseTTL
        do {
            let report = try await withThrowingTaskGroup(of: RevertReport?.self) { group in
                group.addTask {
                    while true {
                        try await Task.sleep(for: ttl / 3)
                        guard try await store.acquireLease(id, owner: owner, ttl: ttl) else {
                            throw RolloutError.lostLease(id)
                        }
                    }
                }
                group.addTask {
                    try await revertPhases(
                        phases, rollout: id, change: change, policy: policy, plan: plan, steps: steps,
                        tenants: snapshot.isEmpty ? nil : snapshot, ignoreHalts: ignoreHalts)
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                throw CancellationError()
            }
            try? await uncancelled { try await store.releaseLease(id, owner: owner) }
            return .reverted(report)
        } catch {
            try? await uncancelled { try await store.releaseLease(id, owner: owner) }
            throw error
        }
    }

    private func revertPhases(
        _ phases: [Phase], rollout id: String, change: Change, policy: Policy, plan: RolloutPlan,
        steps: [ControlStore.StepRecord], tenants: [Tenant]?, ignoreHalts: Bool
    ) async throws -> RevertReport {
        let names = phases.map(\.name).joined(separator: ", ")
        let reason = "reverted by hand: phase\(phases.count == 1 ? "" : "s") \(names)"
        var options = Options()
        options.listenForHalts = false
        let monitor = HaltMonitor(
            store: store, fleet: connections.fleet.name, listen: false, pollInterval: options.haltPoll)
        let driver = Driver(
            engine: self, rolloutID: id, change: change, policy: policy, plan: plan, options: options, monitor: monitor,
            tenants: tenants)
        try await store.event(id, "revert-started", "reverting by hand, latest phase first: \(names)")
        try await store.setState(id, .reverting, phase: phases[0].name, reason: reason)
        var report = RevertReport(rollout: id, phases: [])
        do {
            for phase in phases {
                let applied = steps.filter { $0.phase == phase.name && $0.state == .applied }
                try await withHaltWatch(monitor, enabled: !ignoreHalts) {
                    try await driver.revert(phase: phase, reason: reason)
                }
                let left = try await store.steps(id, phase: phase.name).filter { $0.state == .applied }
                if !left.isEmpty {
                    let halt = await monitor.halt
                    throw RolloutError.message(
                        "revert of phase \(phase.name) stopped with \(left.count) tenant(s) still having it"
                            + (halt.map { " (\($0.description))" } ?? ""))
                }
                try await store.event(
                    id, "phase-reverted", phase: phase.name, "phase \(phase.name) reverted on \(applied.count) tenants")
                report.phases.append(
                    RevertReport.PhaseRevert(
                        phase: phase.name,
                        waves: plan.waves.reversed().compactMap { wave in
                            let tenants = applied.filter { $0.wave == wave.name }.map(\.tenant)
                            return tenants.isEmpty ? nil : RevertReport.WaveTenants(wave: wave.name, tenants: tenants)
                        }))
            }
        } catch {
            let why = "revert by hand stopped: \(error)"
            try? await store.setState(id, .halted, phase: phases[0].name, reason: why)
            try? await store.event(id, "revert-failed", why)
            observe(.finished(rollout: id, state: .halted, reason: why))
            throw error
        }
        try await store.setState(id, .reverted, phase: phases.last?.name, reason: reason)
        try await store.event(id, "reverted", phase: phases.last?.name, reason)
        observe(.finished(rollout: id, state: .reverted, reason: reason))
        return report
    }

    /// Runs `body` while the halt monitor watches (so a halt stops dispatching more tenants).
    private func withHaltWatch(
        _ monitor: HaltMonitor, enabled: Bool, _ body: @escaping @Sendable () async throws -> Void
    )
        async throws
    {
        guard enabled else { return try await body() }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                await monitor.run()
                return false
            }
            group.addTask {
                try await body()
                return true
            }
            defer { group.cancelAll() }
            while let done = try await group.next() {
                if done { return }
            }
        }
    }

    /// The plan the rollout ran with, as journaled.
    func storedPlan(_ id: String) async throws -> RolloutPlan? {
        let rows = try await store.client.query(
            "SELECT plan::text FROM flotilla.rollouts WHERE id = \(id)", logger: logger)
        for try await text in rows.decode(String?.self) {
            guard let text else { return nil }
            return try? JSONDecoder().decode(RolloutPlan.self, from: Data(text.utf8))
        }
        return nil
    }
}
