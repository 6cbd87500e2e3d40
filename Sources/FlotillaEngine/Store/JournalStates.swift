import NIOCore
import PostgresNIO

/// Where one tenant's step of one phase stands in a rollout. Stored in `flotilla.steps.state` as the raw value.
public enum StepState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Not started, or put back (a halt, an interruption, a dead coordinator, a resume after a failure).
    case pending
    /// Claimed by a coordinator (`owner`), whose claim runs until `claimed_until`.
    case running
    /// Committed in the tenant: its ledger holds the phase.
    case applied
    /// Failed after its retries; the failure budget decides what follows.
    case failed
    /// Set aside: failed within the failure budget, or unhealthy and reverted on its own. Later phases skip it.
    case quarantined
    /// The phase was undone in the tenant.
    case reverted

    /// The states a step may move to from this one. Every write of a step's state is checked against this table,
    /// in the same statement that writes it (`ControlStore.transitionSQL`).
    public var next: Set<StepState> {
        switch self {
        // pending → quarantined: the tenant was quarantined by an earlier phase of the rollout.
        case .pending: [.running, .quarantined]
        // running → running: a claim that expired (its coordinator died) is claimed again;
        // running → pending: stopped by a halt or an interruption before it committed.
        case .running: [.running, .applied, .failed, .pending, .quarantined]
        // applied → applied: a rerun found the phase in the tenant's ledger.
        case .applied: [.applied, .reverted, .quarantined]
        // failed → pending: a resume tries it again.
        case .failed: [.pending, .quarantined, .failed]
        // quarantined → reverted: `flotilla revert` of a rollout undoes the phase where it is still applied.
        case .quarantined: [.quarantined, .reverted]
        // reverted → pending: the rollout is resumed after a revert of some of its phases.
        case .reverted: [.pending, .reverted]
        }
    }

    public func canMove(to state: StepState) -> Bool { next.contains(state) }

    /// Not finished: a worker still has to run it.
    public var isOpen: Bool { self == .pending || self == .running }

    /// Every allowed (from, to) pair, for the statements that check a transition in SQL.
    static let transitions = transitionPairs(StepState.self) { $0.next }
}

/// Where a rollout stands. Stored in `flotilla.rollouts.state` as the raw value.
public enum RolloutState: String, Sendable, Hashable, Codable, CaseIterable {
    case running
    /// A phase with `gate: approval` waits for `flotilla approve`.
    case awaitingApproval = "awaiting-approval"
    /// An inconclusive bake under `on_inconclusive: pause` waits for `flotilla approve`.
    case paused
    /// Stopped, every tenant as it was: by a halt, a failure under `on_failure: halt`, or a failed revert.
    case halted
    /// `flotilla revert` is undoing its phases by hand.
    case reverting
    /// The rollout's phases were undone where it applied them.
    case reverted
    /// Every phase is applied fleet-wide.
    case done

    public var next: Set<RolloutState> {
        switch self {
        case .running: [.running, .awaitingApproval, .paused, .halted, .reverting, .reverted, .done]
        case .awaitingApproval: [.running, .awaitingApproval, .halted, .reverting, .reverted]
        case .paused: [.running, .paused, .halted, .reverting, .reverted]
        // halted → running: `flotilla resume` or a rerun; halted → reverting: `flotilla revert`.
        case .halted: [.running, .halted, .reverting, .reverted]
        // A revert by hand ends reverted, or halted when a tenant's revert fails.
        case .reverting: [.reverting, .reverted, .halted]
        // reverted → reverting: another phase of a rollout reverted phase by phase by hand.
        case .reverted: [.reverting, .reverted]
        // done → reverting: `flotilla revert` of a finished rollout.
        case .done: [.reverting]
        }
    }

    public func canMove(to state: RolloutState) -> Bool { next.contains(state) }

    /// A rollout that no coordinator works on until someone acts (resume, revert, approve).
    public var isFinished: Bool { self == .done || self == .reverted || self == .halted }

    /// Finished for good: a new rollout of the same change may start beside it.
    public var isClosed: Bool { self == .done || self == .reverted }

    static let transitions = transitionPairs(RolloutState.self) { $0.next }
}

/// A state table as two columns of raw values (from, to), one row per allowed move: binds for `unnest`.
func transitionPairs<State: CaseIterable & RawRepresentable<String>>(
    _ type: State.Type, _ next: (State) -> Set<State>
) -> (from: [String], to: [String]) {
    var from: [String] = []
    var to: [String] = []
    for state in State.allCases {
        for target in next(state).map(\.rawValue).sorted() {
            from.append(state.rawValue)
            to.append(target)
        }
    }
    return (from, to)
}

/// A state change the tables above do not allow: a bug, or two coordinators disagreeing. Names what it concerns.
public struct IllegalTransition: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Subject: Sendable, Hashable {
        case step(rollout: String, phase: String, tenant: String, from: StepState, to: StepState)
        case rollout(id: String, from: RolloutState, to: RolloutState)
    }

    public let subject: Subject

    public var description: String {
        switch subject {
        case .step(let rollout, let phase, let tenant, let from, let to):
            "rollout \(rollout), phase \(phase), tenant \(tenant): a step cannot go from \(from.rawValue) to \(to.rawValue)"
        case .rollout(let id, let from, let to):
            "rollout \(id) cannot go from \(from.rawValue) to \(to.rawValue)"
        }
    }
}

/// A state stored as its raw text. Spelled out: an enum that is both `Codable` and `RawRepresentable` would
/// otherwise match two of PostgresNIO's default encodings (JSON and raw value).
public protocol StoredAsText: RawRepresentable<String>, PostgresCodable {}

extension StoredAsText {
    public static var psqlType: PostgresDataType { .text }
    public static var psqlFormat: PostgresFormat { .binary }

    public func encode<JSONEncoder: PostgresJSONEncoder>(
        into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        byteBuffer.writeString(rawValue)
    }

    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        guard let text = buffer.readString(length: buffer.readableBytes), let value = Self(rawValue: text) else {
            throw PostgresDecodingError.Code.failure
        }
        self = value
    }
}

extension StepState: StoredAsText {}
extension RolloutState: StoredAsText {}
