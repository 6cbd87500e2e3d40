import Foundation

/// What `status ROLLOUT --watch --output json` reads from the journal at each refresh, and the events between two
/// readings: the same events a coordinator emits, for a rollout another process drives.
public struct JournalSnapshot: Sendable {
    public var record: ControlStore.RolloutRecord
    public var steps: [ControlStore.StepRecord]
    public var measurements: [ControlStore.MeasurementRecord]
    public var verdicts: [ControlStore.CheckVerdictRecord]
    public var halts: [HaltRecord]

    public init(
        record: ControlStore.RolloutRecord, steps: [ControlStore.StepRecord],
        measurements: [ControlStore.MeasurementRecord] = [], verdicts: [ControlStore.CheckVerdictRecord] = [],
        halts: [HaltRecord] = []
    ) {
        self.record = record
        self.steps = steps
        self.measurements = measurements
        self.verdicts = verdicts
        self.halts = halts
    }

    /// Reads a rollout's journal; nil when there is no such rollout.
    public static func read(_ rollout: String, store: ControlStore) async throws -> JournalSnapshot? {
        guard let record = try await store.rollout(id: rollout) else { return nil }
        return JournalSnapshot(
            record: record, steps: try await store.steps(rollout),
            measurements: (try? await store.recentMeasurements(rollout, perCheck: 10_000)) ?? [],
            verdicts: (try? await store.checkVerdicts(rollout)) ?? [],
            halts: (try? await store.activeHalts(fleet: record.fleet)) ?? [])
    }

    /// Each tenant's shard and wave, for the event stream's ids.
    public func context(_ context: inout EventStream.Context) {
        context.rollout = record.id
        context.fleet = record.fleet
        context.change = record.change
        for step in steps {
            context.shards[step.tenant] = step.shard
            context.waves[step.tenant] = step.wave
        }
    }

    /// The events from `old` (nil: nothing seen yet, so what already happened comes first) to `self`.
    public func events(since old: JournalSnapshot?) -> [RolloutEvent] {
        var events: [RolloutEvent] = []
        let id = record.id
        if old == nil { events.append(.started(rollout: id, resumed: false)) }
        let before = Dictionary((old?.steps ?? []).map { ("\($0.phase)\u{0}\($0.tenant)", $0) }) { a, _ in a }
        var phases: [String] = []
        for step in steps where !phases.contains(step.phase) { phases.append(step.phase) }
        func started(_ steps: [ControlStore.StepRecord]) -> Bool { steps.contains { $0.state != .pending } }
        for (number, phase) in phases.enumerated() {
            let now = steps.filter { $0.phase == phase }
            let then = (old?.steps ?? []).filter { $0.phase == phase }
            guard started(now) else { continue }
            if !started(then) { events.append(.phaseStarted(phase: phase, number: number + 1, of: phases.count)) }
            var waves: [String] = []
            for step in now where !waves.contains(step.wave) { waves.append(step.wave) }
            for wave in waves {
                let members = now.filter { $0.wave == wave }
                guard started(members) else { continue }
                if !started(then.filter { $0.wave == wave }) {
                    events.append(.waveStarted(phase: phase, wave: wave, tenants: members.count, shard: nil))
                }
                for step in members {
                    let previous = before["\(step.phase)\u{0}\(step.tenant)"]?.state
                    guard step.state != previous else { continue }
                    switch step.state {
                    case .applied:
                        events.append(
                            .stepApplied(
                                phase: phase, tenant: step.tenant, milliseconds: step.durationMilliseconds ?? 0,
                                alreadyApplied: false))
                    case .failed:
                        events.append(
                            .stepFailed(
                                error: StepError(
                                    tenant: step.tenant, shard: step.shard, phase: phase, sqlState: step.sqlState,
                                    message: step.error ?? "")))
                    case .quarantined:
                        events.append(.quarantined(phase: phase, tenants: [step.tenant]))
                    case .reverted:
                        events.append(.stepReverted(phase: phase, tenant: step.tenant))
                    default: break
                    }
                }
            }
        }
        func key(_ record: ControlStore.MeasurementRecord) -> String {
            "\(record.phase)\u{0}\(record.wave)\u{0}\(record.measurement.check)\u{0}\(record.measurement.target)\u{0}\(record.measurement.at.timeIntervalSince1970)"
        }
        let seen = Set((old?.measurements ?? []).map(key))
        for record in measurements.sorted(by: { $0.measurement.at < $1.measurement.at })
        where !seen.contains(key(record)) {
            events.append(
                .checkMeasured(rollout: id, phase: record.phase, wave: record.wave, measurement: record.measurement))
        }
        for verdict in verdicts.dropFirst(old?.verdicts.count ?? 0) {
            events.append(
                .checkVerdict(
                    rollout: id, phase: verdict.phase, wave: verdict.wave, check: verdict.check,
                    verdict: verdict.verdict, reason: verdict.reason))
        }
        let known = Set((old?.halts ?? []).map(\.id))
        for halt in halts where !known.contains(halt.id) { events.append(.halting(halt: halt)) }
        if record.state != old?.record.state {
            switch record.state {
            case .awaitingApproval:
                events.append(.awaitingApproval(rollout: id, phase: record.currentPhase ?? "-"))
            case .done, .halted, .reverted:
                events.append(.finished(rollout: id, state: record.state, reason: record.reason))
            default: break
            }
        }
        return events
    }
}
