import Foundation

/// The `type` of an event of the stream.
public enum EventType: String, Sendable, CaseIterable {
    case rollout, phase, wave, step, check, verdict, halt, revert, throttle, done

    public var summary: String {
        switch self {
        case .rollout: "A rollout started, resumed, or is worked alongside another coordinator (following)."
        case .phase: "A phase started, was skipped, waits for approval, or was approved."
        case .wave: "A wave (or its slice on one shard) started, finished, or bakes."
        case .step: "A tenant's step: applied, failed, retry, reverted, deferred or quarantined."
        case .check: "One measurement of a health check on one target."
        case .verdict: "A health check's verdict over a wave."
        case .halt: "The rollout stops for a halt."
        case .revert: "A phase is being reverted on the tenants that got it."
        case .throttle: "A shard is throttled (no new steps start there) or clear again."
        case .done: "The rollout ended this run: done, halted, reverted."
        }
    }
}

extension EventStream {
    /// One field of an event object.
    public struct Field: Sendable {
        public var name: String
        /// JSON Schema type: `string`, `integer`, `number`, `boolean`.
        public var kind: String
        public var required: Bool
        public var values: [String]
        public var description: String

        init(_ name: String, _ kind: String, required: Bool = false, values: [String] = [], _ description: String) {
            self.name = name
            self.kind = kind
            self.required = required
            self.values = values
            self.description = description
        }
    }

    /// Fields every event has, or has once the value is known.
    public static let commonFields: [Field] = [
        Field("type", "string", required: true, values: EventType.allCases.map(\.rawValue), "What happened."),
        Field("time", "string", required: true, "When it was seen: ISO 8601, UTC, milliseconds."),
        Field("rollout", "string", "The rollout id, once known (absent before the rollout starts)."),
        Field("fleet", "string", "The fleet the command runs on."),
        Field("change", "string", "The change the command rolls out (absent for worker and converge)."),
    ]

    static let phase = Field("phase", "string", required: true, "The phase.")
    static let wave = Field("wave", "string", required: true, "The wave.")

    /// Each event type's own fields, in the order they are written.
    public static func fields(of type: EventType) -> [Field] {
        switch type {
        case .rollout:
            [
                Field("action", "string", required: true, values: ["started", "resumed", "following"], "What it did."),
                Field(
                    "kind", "string", values: ["rollout", "converge", "retry", "revert", "worker"],
                    "What the command runs."),
            ]
        case .phase:
            [
                phase,
                Field(
                    "action", "string", required: true,
                    values: ["started", "skipped", "awaiting-approval", "approved"],
                    "What happened to the phase."),
                Field("number", "integer", "Its position, from 1 (started)."),
                Field("of", "integer", "How many phases the change has (started)."),
                Field("reason", "string", "Why it was skipped."),
            ]
        case .wave:
            [
                phase, wave,
                Field("shard", "string", "The shard of this slice, when the wave runs shard by shard."),
                Field("action", "string", required: true, values: ["started", "finished", "baking"], "What happened."),
                Field("tenants", "integer", "Tenants in the wave (or slice) (started)."),
                Field("applied", "integer", "Tenants applied (finished)."),
                Field("failed", "integer", "Tenants failed (finished)."),
                Field("ms", "integer", "How long the wave took (finished)."),
                Field("bake_ms", "integer", "How long it bakes (baking)."),
            ]
        case .step:
            [
                phase,
                Field("wave", "string", "The tenant's wave."),
                Field("tenant", "string", required: true, "The tenant."),
                Field("shard", "string", "The tenant's shard."),
                Field(
                    "action", "string", required: true,
                    values: ["applied", "failed", "retry", "reverted", "deferred", "quarantined"], "What happened."),
                Field("ms", "integer", "How long the step took (applied)."),
                Field("already_applied", "boolean", "The tenant had the phase already (applied)."),
                Field("attempt", "integer", "The attempt that failed (retry)."),
                Field("sqlstate", "string", "The SQLSTATE of the failure (failed)."),
                Field("error", "string", "What went wrong (failed, retry)."),
                Field("reason", "string", "Why it was deferred (deferred)."),
            ]
        case .check:
            [
                phase, wave,
                Field("tenant", "string", "The tenant measured, for a tenant-scope check."),
                Field("shard", "string", "The shard of the target."),
                Field("check", "string", required: true, "The check's name."),
                Field("kind", "string", required: true, values: ["sql", "http", "command", "prometheus"], "Its kind."),
                Field("scope", "string", required: true, values: ["tenant", "wave", "preflight"], "Its scope."),
                Field("target", "string", required: true, "What was measured: a tenant, a shard, `wave` or `cohort`."),
                Field(
                    "verdict", "string", required: true, values: ["pass", "fail", "error", "inconclusive"],
                    "What this measurement says."),
                Field("value", "string", "What the check returned."),
                Field("detail", "string", required: true, "Why the verdict, in words."),
                Field("ms", "integer", required: true, "How long the measurement took."),
                Field("measured_at", "string", required: true, "When it was taken: ISO 8601, UTC."),
                Field("cohort", "string", values: ["changed", "baseline", "compared"], "For `compare: cohort`."),
                Field("baseline", "string", "The baseline cohort's value, on a `compared` measurement."),
            ]
        case .verdict:
            [
                phase, wave,
                Field("check", "string", required: true, "The check's name."),
                Field(
                    "verdict", "string", required: true, values: ["passed", "failed", "inconclusive", "waiting"],
                    "The check's verdict over the wave."),
                Field("reason", "string", "Why, when it did not pass."),
            ]
        case .halt:
            [
                Field("halt", "integer", required: true, "The halt's id in the halts table."),
                Field("scope", "string", required: true, values: ["fleet", "all"], "One fleet, or every fleet."),
                Field("halted_fleet", "string", "The fleet halted (scope fleet)."),
                Field("reason", "string", required: true, "Why, as given to `flotilla halt`."),
                Field("by", "string", required: true, "Who halted."),
                Field("halted_at", "string", required: true, "When: ISO 8601, UTC."),
                Field("revert", "boolean", required: true, "Whether the current phase is reverted after stopping."),
            ]
        case .revert:
            [
                phase,
                Field("tenants", "integer", required: true, "Tenants it is reverted on."),
                Field("reason", "string", required: true, "Why."),
            ]
        case .throttle:
            [
                Field("shard", "string", required: true, "The shard."),
                Field("action", "string", required: true, values: ["paused", "cleared"], "Throttled, or clear again."),
                Field("signal", "string", required: true, "The signal above its threshold."),
                Field("value", "number", "Its value (absent when it could not be read)."),
                Field("value_text", "string", required: true, "The value as a policy writes it."),
                Field("threshold", "number", required: true, "Its `pause_above`."),
                Field("threshold_text", "string", required: true, "The threshold as the policy writes it."),
                Field("condition", "string", required: true, "`signal = value > threshold`, in words."),
            ]
        case .done:
            [
                Field(
                    "state", "string", required: true, values: ["done", "halted", "reverted", "awaiting-approval"],
                    "How the rollout ended this run."),
                Field("reason", "string", "Why it halted or was reverted."),
            ]
        }
    }

    /// Every field of an event of `type`: the common ones, then its own.
    public static func allFields(of type: EventType) -> [Field] {
        commonFields + fields(of: type)
    }

    /// The JSON Schema (draft 2020-12) of one line of the stream: one of the event types, each a closed object.
    public static var schema: JSONLine {
        func property(_ field: Field, type: EventType? = nil) -> (String, JSONLine) {
            var body: [(String, JSONLine)] = [
                ("type", .string(field.kind)), ("description", .string(field.description)),
            ]
            if field.name == "type", let type {
                body.append(("const", .string(type.rawValue)))
            } else if !field.values.isEmpty {
                body.append(("enum", .array(field.values.map(JSONLine.string))))
            }
            if field.name.hasSuffix("time") || field.name.hasSuffix("_at") {
                body.append(("format", .string("date-time")))
            }
            return (field.name, .object(body))
        }
        let variants: [JSONLine] = EventType.allCases.map { type in
            let fields = allFields(of: type)
            return .object([
                ("title", .string(type.rawValue)),
                ("description", .string(type.summary)),
                ("type", .string("object")),
                ("properties", .object(fields.map { property($0, type: type) })),
                ("required", .array(fields.filter(\.required).map { .string($0.name) })),
                ("additionalProperties", .bool(false)),
            ])
        }
        return .object([
            ("$schema", .string("https://json-schema.org/draft/2020-12/schema")),
            ("$id", .string("https://flotilla.dev/schemas/events.schema.json")),
            ("title", .string("Flotilla event stream")),
            (
                "description",
                .string(
                    "One line of `--output json` (rollout, converge, revert, worker, status --watch): one event per line (NDJSON)."
                )
            ),
            ("type", .string("object")),
            (
                "properties",
                .object([("type", .object([("enum", .array(EventType.allCases.map { .string($0.rawValue) }))]))])
            ),
            ("required", .array([.string("type"), .string("time")])),
            ("oneOf", .array(variants)),
        ])
    }
}
