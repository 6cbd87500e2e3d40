/// Progress of a rollout, as it happens: the CLI prints these line by line.
public enum RolloutEvent: Sendable {
    case started(rollout: String, resumed: Bool)
    case phaseStarted(phase: String, number: Int, of: Int)
    case phaseSkipped(phase: String, reason: String)
    case waveStarted(phase: String, wave: String, tenants: Int, shard: String?)
    case stepApplied(phase: String, tenant: String, milliseconds: Int, alreadyApplied: Bool)
    case stepRetry(phase: String, tenant: String, attempt: Int, error: String)
    case stepFailed(error: StepError)
    case waveFinished(phase: String, wave: String, applied: Int, failed: Int, milliseconds: Int)
    case quarantined(phase: String, tenants: [String])
    case baking(phase: String, wave: String, duration: Duration)
    case checkFailed(check: String, message: String)
    case awaitingApproval(rollout: String, phase: String)
    case approved(phase: String)
    case reverting(phase: String, tenants: Int, reason: String)
    case stepReverted(phase: String, tenant: String)
    case finished(rollout: String, state: RolloutState, reason: String?)
    case halting(halt: HaltRecord)
    /// Another coordinator holds the lease: this one works its slices and takes over if it dies.
    case following(rollout: String)
    /// No new step starts on a shard while one of its throttle signals is above its `pause_above` (or unknown).
    case throttled(ThrottleCause)
    /// A throttled shard is clear again.
    case throttleCleared(shard: String, after: ThrottleCause)
    /// A tenant's step went back to the end of its wave's queue: an old transaction holds a lock it needs.
    case stepDeferred(phase: String, tenant: String, reason: String)
    /// A health check measured one target during a wave's bake or preflight (journaled in `flotilla.measurements`).
    case checkMeasured(rollout: String, phase: String, wave: String, measurement: CheckMeasurement)
    /// A health check's verdict over a wave (journaled in `flotilla.check_verdicts`): `passed`, `failed`,
    /// `inconclusive`, with why when it did not pass.
    case checkVerdict(rollout: String, phase: String, wave: String, check: String, verdict: String, reason: String?)
}

/// How a rollout ended this time.
public enum RolloutOutcome: Sendable, Equatable {
    case done(rollout: String)
    case alreadyDone(rollout: String)
    case awaitingApproval(rollout: String, phase: String)
    /// Stopped and reverted the failing phase on the tenants that got it.
    case reverted(rollout: String, reason: String)
    /// Stopped and kept everything as it is (failed tenants, irreversible phase, on_failure: halt, a halt).
    case halted(rollout: String, reason: String)
    /// Not started: the fleet is under an active halt.
    case blocked(rollout: String?, halt: HaltRecord)

    public var rolloutID: String {
        switch self {
        case .done(let id), .alreadyDone(let id), .awaitingApproval(let id, _), .reverted(let id, _),
            .halted(let id, _):
            return id
        case .blocked(let id, _):
            return id ?? "-"
        }
    }

    /// 0 done (or waiting at a gate), 3 halted or reverted.
    public var exitCode: Int32 {
        switch self {
        case .done, .alreadyDone, .awaitingApproval: return 0
        case .reverted, .halted, .blocked: return 3
        }
    }
}
