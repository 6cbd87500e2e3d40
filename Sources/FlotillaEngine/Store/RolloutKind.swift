/// What a rollout is for. Stored in `flotilla.rollouts.kind` as the raw value; one unfinished rollout per
/// (fleet, change, kind), so a converge or a retry of a change can run beside that change's rollout.
public enum RolloutKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// `flotilla rollout`: a change across the fleet's tenants, in the policy's waves.
    case rollout
    /// `flotilla converge`: lagging tenants brought up to the phases the rest of the fleet has.
    case converge
    /// `flotilla retry`: the quarantined or failed tenants of an earlier rollout (its parent), run again.
    case retry
}

extension RolloutKind: StoredAsText {}
