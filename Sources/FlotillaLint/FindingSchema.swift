import Foundation

/// The JSON Schema (draft 2020-12) of `flotilla lint --format json`: every finding's keys, the rule ids with
/// what each catches, its risk, lock and strategy, the `traced` object that `--trace` adds and the `judged` object
/// that `--fleet` adds.
public enum FindingSchema {
    /// The schema as stable, pretty-printed JSON with sorted keys.
    public static func rendered() -> String {
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard let data = try? JSONSerialization.data(withJSONObject: document, options: options) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static var document: [String: Any] {
        let catalog = Linter.rules + RuleDescription.liveCatalog
        let strategies = Set(catalog.map(\.strategy) + [Strategy.direct]).sorted()
        let rules: [[String: Any]] = catalog.map { rule in
            [
                "const": rule.id,
                "description": "\(rule.summary) Risk \(rule.risk.rawValue); lock \(rule.lock); \(rule.strategy).",
            ]
        }
        let nullableString: [String: Any] = ["type": ["string", "null"]]
        let finding: [String: Any] = [
            "type": "object",
            "additionalProperties": false,
            "required": [
                "file", "line", "column", "rule", "risk", "strategy", "lock", "message", "phase", "statement",
                "acknowledged",
            ],
            "properties": [
                "file": ["type": "string", "description": "the change or SQL file"],
                "line": ["type": "integer", "minimum": 0, "description": "1-based line in file"],
                "column": ["type": "integer", "minimum": 0, "description": "1-based column in file"],
                "rule": ["oneOf": rules, "description": "the rule that matched; docs/rules.md documents each"],
                "risk": [
                    "enum": Risk.allCases.map(\.rawValue),
                    "description": "low < medium < high < error; a finding can be lower than its rule in context",
                ],
                "strategy": [
                    "enum": strategies,
                    "description": "the rule's strategy, or direct deployment when the context made it harmless",
                ],
                "lock": [
                    "type": "string",
                    "description": "the lock PostgreSQL 15 takes, or the locks observed by --trace",
                    "examples": [Lock.accessExclusive, Lock.shareUpdateExclusive, Lock.share, Lock.none],
                ],
                "message": ["type": "string", "description": "what the statement does and the safe rewrite"],
                "phase": nullableString.merging(["description": "the phase, for a change file"]) { $1 },
                "statement": ["type": "string", "description": "the statement's first 80 characters"],
                "acknowledged": nullableString.merging(["description": "the reason it is acknowledged"]) { $1 },
                "traced": ["$ref": "#/$defs/traced"],
                "judged": ["$ref": "#/$defs/judged"],
            ],
        ]
        let judged: [String: Any] = [
            "type": "object",
            "additionalProperties": false,
            "description": "what lint --fleet judged the finding on: one tenant's live catalog",
            "required": ["tenant", "shard", "table", "rows", "static_risk", "reason"],
            "properties": [
                "tenant": ["type": "string", "description": "the tenant whose catalog was read"],
                "shard": ["type": "string", "description": "the tenant's shard"],
                "table": nullableString.merging(["description": "the table the statement touches"]) { $1 },
                "rows": [
                    "type": ["integer", "null"],
                    "description": "the table's rows: pg_class.reltuples, or counted when never analyzed",
                ],
                "static_risk": [
                    "enum": Risk.allCases.map(\.rawValue),
                    "description": "the risk before the live schema was taken into account",
                ],
                "reason": nullableString.merging(["description": "why the live schema changed the risk"]) { $1 },
            ],
        ]
        let traced: [String: Any] = [
            "type": "object",
            "additionalProperties": false,
            "required": ["tenant", "locks", "rewrites"],
            "properties": [
                "tenant": ["type": "string"],
                "locks": [
                    "type": "array",
                    "items": [
                        "type": "object", "additionalProperties": false, "required": ["relation", "mode"],
                        "properties": ["relation": ["type": "string"], "mode": ["type": "string"]],
                    ],
                ],
                "rewrites": ["type": "array", "items": ["type": "string"]],
                "note": ["type": "string"],
            ],
        ]
        return [
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "flotilla lint --format json",
            "type": "object",
            "additionalProperties": false,
            "required": ["findings"],
            "properties": ["findings": ["type": "array", "items": ["$ref": "#/$defs/finding"]]],
            "$defs": ["finding": finding, "traced": traced, "judged": judged],
        ]
    }
}
