import Foundation

/// The JSON Schema (draft 2020-12) of `flotilla lint --format json`: every finding's keys, the rule ids with
/// what each catches, its risk, lock and strategy, and the `traced` object that `--trace` adds.
public enum FindingSchema {
    /// The schema as stable, pretty-printed JSON with sorted keys.
    public static func rendered() -> String {
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard let data = try? JSONSerialization.data(withJSONObject: document, options: options) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static var document: [String: Any] {
        let strategies = Set(Linter.rules.map(\.strategy) + [Strategy.direct]).sorted()
        let rules: [[String: Any]] = Linter.rules.map { rule in
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
            "$defs": ["finding": finding, "traced": traced],
        ]
    }
}
