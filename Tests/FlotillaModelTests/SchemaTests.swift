import FlotillaModel
import Foundation
import Testing

/// One object of the definition files: how to build a minimal valid file with extra keys in that object, and
/// where that object's properties are in the JSON Schema.
struct SchemaContext: Sendable, CustomTestStringConvertible {
    var name: String
    var kind: DefinitionKind
    /// The file in YAML flow style, with `#` where the object's members go.
    var template: String
    /// The members of a minimal valid object.
    var base: [(String, String)]
    /// A key to drop from `base` when probing another one (e.g. `schema` when probing `database`).
    var conflicts: [String: String] = [:]
    /// Keys into the schema document, `*` for an array's items, a number for an `anyOf` member.
    var schemaPath: [String]

    var testDescription: String { name }

    func yaml(with probe: (String, String)?) -> String {
        var members = base
        if let probe {
            if let conflict = conflicts[probe.0] { members.removeAll { $0.0 == conflict } }
            if let index = members.firstIndex(where: { $0.0 == probe.0 }) {
                members[index].1 = probe.1
            } else {
                members.append(probe)
            }
        }
        let body = "{" + members.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        return template.replacingOccurrences(of: "#", with: body) + "\n"
    }
}

/// A valid value for each key the decoders know, to try it with.
let sampleValues: [String: String] = [
    // fleet
    "fleet": "f", "control": "\"postgres://c@h/db\"", "shards": "[{name: s, url: \"embedded:s\"}]",
    "tenants": "[{id: a, shard: s, schema: a}]", "name": "n", "url": "\"embedded:t\"", "max_parallel": "2",
    "id": "i", "shard": "s", "schema": "sch", "database": "db", "labels": "{tier: free}", "count": "2",
    "start": "0", "generate": "{count: 1, id: \"g{n}\", shard: s, schema: \"x_{id}\"}",
    // change
    "change": "c", "description": "words", "requires": "[]", "phases": "[{name: p, up: SELECT 1}]",
    "pattern": "add-index", "up": "SELECT 1", "down": "SELECT 2", "verify": "SELECT true",
    "backfill": "{table: t, set: \"a = 1\"}", "gate": "approval", "reversible": "false", "transaction": "none",
    "ignore": "[{rule: r, reason: because}]", "table": "t", "set": "\"a = 1\"", "where": "\"a IS NULL\"",
    "key": "k", "batch_size": "10", "target_batch_time": "50ms",
    "min_batch": "5", "max_batch": "5000", "pause": "10ms", "revert": "\"a = 0\"", "rule": "r", "reason": "because",
    // policy
    "policy": "p", "waves": "[{name: w, select: {remaining: true}}]", "parallel": "2", "per_shard_parallel": "2",
    "lock_timeout": "1s", "connect_timeout": "3s", "statement_timeout": "1m", "retries": "{attempts: 2}",
    "failure_budget": "{total: \"2%\"}",
    "notify": "{url: \"http://127.0.0.1/hook\", events: [halted, done]}",
    "checks": "[{name: c, sql: \"SELECT true\"}]", "on_failure": "halt", "on_inconclusive": "continue",
    "throttle": "{signals: [{signal: lock_waiters, pause_above: 5}]}", "on_unknown": "ignore", "max_deferrals": "3",
    "signals": "[{signal: lock_waiters, pause_above: 1}]",
    "risk": "{rows_medium: 1000, rows_high: 100000}",
    "seed": "42", "select": "{remaining: true}", "by": "shard", "bake": "1s", "percent": "10", "remaining": "true",
    "sql": "\"SELECT true\"",
    "http": "{url: \"http://127.0.0.1/\"}", "command": "[\"true\"]", "scope": "wave", "interval": "1s",
    "timeout": "2s", "failure_limit": "1", "consecutive_error_limit": "1", "min": "0", "max": "1", "status": "204",
    "max_latency": "100ms", "body_contains": "ok", "json_field": "a.b", "equals": "x", "attempts": "2",
    "backoff": "1s", "per_wave": "1", "total": "\"2%\"",
    "prometheus": "{url: \"http://127.0.0.1:9090\", query: up, max: 1}", "compare": "cohort",
    "max_regression": "\"20%\"", "min_samples": "3",
    // where a key means something else in a context: "context.key"
    "selector.tenants": "[a]", "selector.shards": "[s]", "selector.shard": "s",
    "tenant generator.id": "\"g{n}\"", "tenant generator.schema": "\"s_{id}\"",
    "tenant generator.database": "\"d_{id}\"",
    "registry source.query": "\"SELECT 1\"", "discovery source.shards": "[s]",
    "discovery source.schemas": "\"t_%\"", "discovery source.databases": "\"d_%\"", "discovery source.id": "\"{name}\"",
]

private let fleetShards = "shards: [{name: s, url: \"embedded:s\"}]"

let schemaContexts: [SchemaContext] = [
    SchemaContext(
        name: "fleet", kind: .fleet, template: "#",
        base: [
            ("fleet", "f"), ("shards", "[{name: s, url: \"embedded:s\"}]"),
            ("tenants", "[{id: a, shard: s, schema: a}]"),
        ],
        schemaPath: ["$defs", "fleet"]),
    SchemaContext(
        name: "shard", kind: .fleet, template: "{fleet: f, shards: [#], tenants: [{id: a, shard: s, schema: a}]}",
        base: [("name", "s"), ("url", "\"embedded:s\"")], schemaPath: ["$defs", "fleet", "shards", "*"]),
    SchemaContext(
        name: "tenant", kind: .fleet, template: "{fleet: f, \(fleetShards), tenants: [#]}",
        base: [("id", "a"), ("shard", "s"), ("schema", "a")], conflicts: ["database": "schema"],
        schemaPath: ["$defs", "fleet", "tenants", "*", "0"]),
    SchemaContext(
        name: "tenant generator", kind: .fleet, template: "{fleet: f, \(fleetShards), tenants: [{generate: #}]}",
        base: [("count", "2"), ("id", "\"t{n}\""), ("shard", "s"), ("schema", "\"tenant_{id}\"")],
        conflicts: ["database": "schema"], schemaPath: ["$defs", "fleet", "tenants", "*", "1", "generate"]),
    SchemaContext(
        name: "registry source", kind: .fleet, template: "{fleet: f, \(fleetShards), tenants: [{from: #}]}",
        base: [("shard", "s"), ("query", "\"SELECT 1\"")], conflicts: ["url": "shard"],
        schemaPath: ["$defs", "fleet", "tenants", "*", "2", "from"]),
    SchemaContext(
        name: "discovery source", kind: .fleet, template: "{fleet: f, \(fleetShards), tenants: [{discover: #}]}",
        base: [("shard", "s"), ("schemas", "\"t_%\"")], conflicts: ["shards": "shard", "databases": "schemas"],
        schemaPath: ["$defs", "fleet", "tenants", "*", "3", "discover"]),
    SchemaContext(
        name: "change", kind: .change, template: "#",
        base: [("change", "c"), ("phases", "[{name: p, up: SELECT 1}]")], schemaPath: ["$defs", "change"]),
    SchemaContext(
        name: "phase", kind: .change, template: "{change: c, phases: [#]}", base: [("name", "p"), ("up", "SELECT 1")],
        schemaPath: ["$defs", "change", "phases", "*"]),
    SchemaContext(
        name: "backfill", kind: .change, template: "{change: c, phases: [{name: p, backfill: #}]}",
        base: [("table", "t"), ("set", "\"a = 1\"")], schemaPath: ["$defs", "change", "phases", "*", "backfill"]),
    SchemaContext(
        name: "acknowledgement", kind: .change, template: "{change: c, phases: [{name: p, up: SELECT 1, ignore: [#]}]}",
        base: [("rule", "r"), ("reason", "because")], schemaPath: ["$defs", "change", "phases", "*", "ignore", "*"]),
    SchemaContext(
        name: "policy", kind: .policy, template: "#",
        base: [("policy", "p"), ("waves", "[{name: w, select: {remaining: true}}]")], schemaPath: ["$defs", "policy"]),
    SchemaContext(
        name: "wave", kind: .policy, template: "{policy: p, waves: [#]}",
        base: [("name", "w"), ("select", "{remaining: true}")], schemaPath: ["$defs", "policy", "waves", "*"]),
    SchemaContext(
        name: "selector", kind: .policy, template: "{policy: p, waves: [{name: w, select: #}]}",
        base: [("remaining", "true")], schemaPath: ["$defs", "policy", "waves", "*", "select"]),
    SchemaContext(
        name: "retries", kind: .policy,
        template: "{policy: p, waves: [{name: w, select: {remaining: true}}], retries: #}",
        base: [], schemaPath: ["$defs", "policy", "retries"]),
    SchemaContext(
        name: "failure budget", kind: .policy,
        template: "{policy: p, waves: [{name: w, select: {remaining: true}}], failure_budget: #}", base: [],
        schemaPath: ["$defs", "policy", "failure_budget"]),
    SchemaContext(
        name: "throttle", kind: .policy,
        template: "{policy: p, waves: [{name: w, select: {remaining: true}}], throttle: #}",
        base: [("signals", "[{signal: lock_waiters, pause_above: 1}]")], schemaPath: ["$defs", "policy", "throttle"]),
    SchemaContext(
        name: "check", kind: .policy,
        template: "{policy: p, waves: [{name: w, select: {remaining: true}}], checks: [#]}",
        base: [("name", "c"), ("sql", "\"SELECT true\"")],
        conflicts: ["http": "sql", "command": "sql", "prometheus": "sql"],
        schemaPath: ["$defs", "policy", "checks", "*"]),
    SchemaContext(
        name: "http probe", kind: .policy,
        template: "{policy: p, waves: [{name: w, select: {remaining: true}}], checks: [{name: c, http: #}]}",
        base: [("url", "\"http://127.0.0.1/\"")], schemaPath: ["$defs", "policy", "checks", "*", "http"]),
]

@Suite("JSON Schema of the definition files")
struct SchemaTests {
    static func document() throws -> [String: Any] {
        let text = DefinitionSchema.document.rendered()
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(object as? [String: Any])
    }

    /// The `properties` of the object at `path` (see `SchemaContext.schemaPath`).
    static func properties(at path: [String], in document: [String: Any]) throws -> Set<String> {
        var node: Any = document
        for (index, step) in path.enumerated() {
            let object = try #require(node as? [String: Any], "not an object before \(step)")
            if step == "*" {
                node = try #require(object["items"], "no items at \(path.prefix(index))")
            } else if let member = Int(step) {
                let anyOf = try #require(object["anyOf"] as? [Any], "no anyOf at \(path.prefix(index))")
                node = anyOf[member]
            } else if index == 0 || path[index - 1] == "$defs" {
                node = try #require(object[step], "no \(step)")
            } else {
                let properties = try #require(
                    object["properties"] as? [String: Any], "no properties at \(path.prefix(index))")
                node = try #require(properties[step], "no property \(step)")
            }
        }
        let object = try #require(node as? [String: Any])
        #expect(object["additionalProperties"] as? Bool == false, "\(path): closed objects, like the decoders")
        return Set(try #require(object["properties"] as? [String: Any]).keys)
    }

    @Test("the rendered schema is JSON with $schema 2020-12 and $defs fleet, change and policy")
    func document() throws {
        let document = try Self.document()
        #expect(document["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        let defs = try #require(document["$defs"] as? [String: Any])
        #expect(Set(defs.keys) == ["fleet", "change", "policy"])
        let refs = try #require(document["oneOf"] as? [[String: String]]).compactMap { $0["$ref"] }
        #expect(Set(refs) == ["#/$defs/fleet", "#/$defs/change", "#/$defs/policy"])
        #expect(DefinitionSchema.document.rendered() == DefinitionSchema.document.rendered(), "stable rendering")
    }

    @Test("schema/flotilla.schema.json in the repository is the current schema")
    func committedSchema() throws {
        let committed = try exampleText("schema/flotilla.schema.json")
        #expect(
            committed.trimmingCharacters(in: .whitespacesAndNewlines)
                == DefinitionSchema.document.rendered().trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("the minimal file of each context is valid", arguments: schemaContexts)
    func minimalIsValid(_ context: SchemaContext) {
        let found = diagnostics(of: context.yaml(with: nil), as: context.kind)
        #expect(found.isEmpty, "\(context.yaml(with: nil))\n\(describe(found))")
    }

    @Test("every key the decoders accept is in the schema, and every schema key is accepted", arguments: schemaContexts)
    func keysMatch(_ context: SchemaContext) throws {
        let schemaKeys = try Self.properties(at: context.schemaPath, in: Self.document())

        // The decoder's own list, from its "unknown key" message.
        let probe = diagnostics(of: context.yaml(with: ("zz_not_a_key", "1")), as: context.kind)
        let unknown = try #require(
            probe.first { $0.message.contains("unknown key 'zz_not_a_key'") }, "\(describe(probe))")
        let list = try #require(unknown.message.components(separatedBy: "expected one of: ").last)
        let decoderKeys = Set(list.components(separatedBy: ", "))
        #expect(decoderKeys.count >= 1)

        // Keys the decoder takes without error (`pattern:` is known but refused, so the schema may leave it out).
        var accepted = Set<String>()
        for key in decoderKeys.sorted() {
            let value = sampleValues["\(context.name).\(key)"] ?? sampleValues[key]
            guard let value else {
                Issue.record("no sample value for '\(key)' (\(context.name)); add one to sampleValues")
                continue
            }
            let found = diagnostics(of: context.yaml(with: (key, value)), as: context.kind)
            if found.isEmpty { accepted.insert(key) }
        }
        #expect(
            accepted.subtracting(schemaKeys).isEmpty,
            "\(context.name): accepted but not in the schema: \(accepted.subtracting(schemaKeys).sorted())")
        #expect(
            schemaKeys.subtracting(decoderKeys).isEmpty,
            "\(context.name): in the schema but unknown to the decoder: \(schemaKeys.subtracting(decoderKeys).sorted())"
        )
        #expect(
            accepted.count >= decoderKeys.count - 1,
            "\(context.name): refused: \(decoderKeys.subtracting(accepted).sorted())")
    }

    @Test("whatever the schema's duration pattern matches, parseDuration accepts")
    func durationPattern() throws {
        let document = try Self.document()
        let policy = try #require((document["$defs"] as? [String: Any])?["policy"] as? [String: Any])
        let bake = try #require(
            (((policy["properties"] as? [String: Any])?["lock_timeout"]) as? [String: Any])?["pattern"] as? String)
        let regex = try NSRegularExpression(pattern: bake)
        func matches(_ text: String) -> Bool {
            regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        }
        for text in ["0", "500ms", "30s", "5m", "1h", "1m30s", "1.5s", "1h2m3s4ms"] {
            #expect(matches(text), "\(text)")
            #expect(parseDuration(text) != nil, "\(text)")
        }
        for text in ["5", "5x", "30 seconds", "-1s", "1d", ""] {
            #expect(!matches(text), "\(text)")
            #expect(parseDuration(text) == nil, "\(text)")
        }
    }
}
