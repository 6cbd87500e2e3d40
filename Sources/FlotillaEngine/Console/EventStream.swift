import FlotillaModel
import Foundation

/// `--output json`: a rollout's events as NDJSON, one object per line, each with `type`, `time` (ISO 8601 UTC,
/// milliseconds) and the ids it concerns (rollout, fleet, change, phase, wave, tenant, shard). The field names are
/// the contract: ``EventStream/types`` lists them (the README's table and `flotilla schema --events` come from it).
public enum EventStream {
    /// What the stream knows around the engine's events: the command's fleet and change, the rollout once it is
    /// known, and each tenant's shard and wave (an engine event names the tenant and phase only).
    public struct Context: Sendable {
        public var fleet: String?
        public var change: String?
        public var rollout: String?
        /// `rollout`, `converge` or `revert`: what the command runs.
        public var kind: String?
        public var shards: [String: String]
        public var waves: [String: String]

        public init(
            fleet: String? = nil, change: String? = nil, rollout: String? = nil, kind: String? = nil,
            shards: [String: String] = [:], waves: [String: String] = [:]
        ) {
            self.fleet = fleet
            self.change = change
            self.rollout = rollout
            self.kind = kind
            self.shards = shards
            self.waves = waves
        }
    }

    /// `2026-12-03T18:30:00.123Z`.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// The JSON objects of one engine event (none for the few that only the terminal shows; several for a
    /// quarantine, one per tenant). Learns the rollout id from the events that carry it.
    public static func objects(for event: RolloutEvent, context: inout Context, at date: Date = Date()) -> [JSONLine] {
        var objects: [JSONLine] = []
        func emit(_ type: EventType, _ fields: [(String, JSONLine?)]) {
            var object: [(String, JSONLine)] = [("type", .string(type.rawValue)), ("time", .string(timestamp(date)))]
            for (key, value) in [
                ("rollout", context.rollout), ("fleet", context.fleet), ("change", context.change),
            ] {
                if let value { object.append((key, .string(value))) }
            }
            for (key, value) in fields { if let value { object.append((key, value)) } }
            objects.append(.object(object))
        }
        func text(_ value: String?) -> JSONLine? { value.map(JSONLine.string) }
        func number(_ value: Int?) -> JSONLine? { value.map(JSONLine.int) }
        func step(_ action: String, phase: String, tenant: String, shard: String? = nil, _ more: [(String, JSONLine?)])
        {
            emit(
                .step,
                [
                    ("phase", text(phase)), ("wave", text(context.waves[tenant])), ("tenant", text(tenant)),
                    ("shard", text(shard ?? context.shards[tenant])), ("action", text(action)),
                ] + more)
        }
        switch event {
        case .started(let rollout, let resumed):
            context.rollout = rollout
            emit(.rollout, [("action", text(resumed ? "resumed" : "started")), ("kind", text(context.kind))])
        case .following(let rollout):
            context.rollout = rollout
            emit(.rollout, [("action", text("following")), ("kind", text(context.kind))])
        case .phaseStarted(let phase, let number, let total):
            emit(
                .phase,
                [("phase", text(phase)), ("action", text("started")), ("number", .int(number)), ("of", .int(total))])
        case .phaseSkipped(let phase, let reason):
            emit(.phase, [("phase", text(phase)), ("action", text("skipped")), ("reason", text(reason))])
        case .awaitingApproval(let rollout, let phase):
            context.rollout = rollout
            emit(.phase, [("phase", text(phase)), ("action", text("awaiting-approval"))])
        case .approved(let phase):
            emit(.phase, [("phase", text(phase)), ("action", text("approved"))])
        case .waveStarted(let phase, let wave, let tenants, let shard):
            emit(
                .wave,
                [
                    ("phase", text(phase)), ("wave", text(wave)), ("shard", text(shard)), ("action", text("started")),
                    ("tenants", .int(tenants)),
                ])
        case .waveFinished(let phase, let wave, let applied, let failed, let milliseconds):
            emit(
                .wave,
                [
                    ("phase", text(phase)), ("wave", text(wave)), ("action", text("finished")),
                    ("applied", .int(applied)), ("failed", .int(failed)), ("ms", .int(milliseconds)),
                ])
        case .baking(let phase, let wave, let duration):
            let milliseconds = Int(
                duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
            emit(
                .wave,
                [
                    ("phase", text(phase)), ("wave", text(wave)), ("action", text("baking")),
                    ("bake_ms", .int(milliseconds)),
                ])
        case .stepApplied(let phase, let tenant, let milliseconds, let already):
            step(
                "applied", phase: phase, tenant: tenant,
                [("ms", .int(milliseconds)), ("already_applied", .bool(already))])
        case .stepRetry(let phase, let tenant, let attempt, let error):
            step("retry", phase: phase, tenant: tenant, [("attempt", .int(attempt)), ("error", text(error))])
        case .stepFailed(let error):
            step(
                "failed", phase: error.phase, tenant: error.tenant, shard: error.shard,
                [("sqlstate", text(error.sqlState)), ("error", text(error.message))])
        case .stepReverted(let phase, let tenant):
            step("reverted", phase: phase, tenant: tenant, [])
        case .stepDeferred(let phase, let tenant, let reason):
            step("deferred", phase: phase, tenant: tenant, [("reason", text(reason))])
        case .quarantined(let phase, let tenants):
            for tenant in tenants { step("quarantined", phase: phase, tenant: tenant, []) }
        case .checkMeasured(let rollout, let phase, let wave, let measurement):
            context.rollout = rollout
            emit(
                .check,
                [
                    ("phase", text(phase)), ("wave", text(wave)), ("tenant", text(measurement.tenant)),
                    ("shard", text(measurement.shard)), ("check", text(measurement.check)),
                    ("kind", text(measurement.kind)), ("scope", text(measurement.scope)),
                    ("target", text(measurement.target)), ("verdict", text(measurement.verdict.rawValue)),
                    ("value", text(measurement.value)), ("detail", text(measurement.detail)),
                    ("ms", .int(measurement.milliseconds)), ("measured_at", text(timestamp(measurement.at))),
                    ("cohort", text(measurement.cohort)), ("baseline", text(measurement.baseline)),
                ])
        case .checkVerdict(let rollout, let phase, let wave, let check, let verdict, let reason):
            context.rollout = rollout
            emit(
                .verdict,
                [
                    ("phase", text(phase)), ("wave", text(wave)), ("check", text(check)), ("verdict", text(verdict)),
                    ("reason", text(reason)),
                ])
        case .checkFailed:
            // Its verdict event (`verdict: failed`, with why) comes with it; the longer message is the terminal's.
            break
        case .halting(let halt):
            emit(
                .halt,
                [
                    ("halt", .int(Int(halt.id))), ("scope", text(halt.fleet == nil ? "all" : "fleet")),
                    ("halted_fleet", text(halt.fleet)), ("reason", text(halt.reason)), ("by", text(halt.haltedBy)),
                    ("halted_at", text(timestamp(halt.haltedAt))), ("revert", .bool(halt.revert)),
                ])
        case .reverting(let phase, let tenants, let reason):
            emit(.revert, [("phase", text(phase)), ("tenants", .int(tenants)), ("reason", text(reason))])
        case .throttled(let cause):
            emit(.throttle, throttleFields("paused", cause))
        case .throttleCleared(_, let after):
            emit(.throttle, throttleFields("cleared", after))
        case .finished(let rollout, let state, let reason):
            context.rollout = rollout
            emit(.done, [("state", text(state.rawValue)), ("reason", text(reason))])
        }
        return objects
    }

    static func throttleFields(_ action: String, _ cause: ThrottleCause) -> [(String, JSONLine?)] {
        [
            ("shard", .string(cause.shard)), ("action", .string(action)), ("signal", .string(cause.signal)),
            ("value", cause.value.map(JSONLine.double)), ("value_text", .string(cause.valueText)),
            ("threshold", .double(cause.threshold)), ("threshold_text", .string(cause.thresholdText)),
            ("condition", .string(cause.condition)),
        ]
    }

    /// The NDJSON lines of one event.
    public static func lines(for event: RolloutEvent, context: inout Context, at date: Date = Date()) -> [String] {
        objects(for: event, context: &context, at: date).map(\.compact)
    }
}
