/// A JSON value with a stable rendering (keys sorted), for the JSON Schema and other machine output.
public indirect enum JSONValue: Sendable, Hashable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    public func rendered(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let end = String(repeating: "  ", count: indent)
        switch self {
        case .string(let text): return Self.quote(text)
        case .number(let value):
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        case .array(let items):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { pad + $0.rendered(indent: indent + 1) }.joined(separator: ",\n") + "\n\(end)]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            return "{\n"
                + members.sorted { $0.key < $1.key }.map {
                    pad + Self.quote($0.key) + ": " + $0.value.rendered(indent: indent + 1)
                }
                .joined(separator: ",\n") + "\n\(end)}"
        }
    }

    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// JSON Schema (draft 2020-12) of fleet, change and policy files, for editors (yaml-language-server).
public enum DefinitionSchema {
    static func str(_ description: String, pattern: String? = nil) -> JSONValue {
        var members: [String: JSONValue] = ["type": .string("string"), "description": .string(description)]
        if let pattern { members["pattern"] = .string(pattern) }
        return .object(members)
    }
    static func int(_ description: String, minimum: Int = 0) -> JSONValue {
        .object(["type": .string("integer"), "minimum": .number(Double(minimum)), "description": .string(description)])
    }
    static func bool(_ description: String) -> JSONValue {
        .object(["type": .string("boolean"), "description": .string(description)])
    }
    static func enumeration(_ values: [String], _ description: String) -> JSONValue {
        .object(["enum": .array(values.map(JSONValue.string)), "description": .string(description)])
    }
    static let durationPattern = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$|^0$"
    static func duration(_ description: String) -> JSONValue {
        str(description + " (500ms, 30s, 5m, 1h)", pattern: durationPattern)
    }
    static func object(_ properties: [String: JSONValue], required: [String] = [], description: String? = nil)
        -> JSONValue
    {
        var members: [String: JSONValue] = [
            "type": .string("object"), "properties": .object(properties), "additionalProperties": .bool(false),
        ]
        if !required.isEmpty { members["required"] = .array(required.map(JSONValue.string)) }
        if let description { members["description"] = .string(description) }
        return .object(members)
    }
    static func array(_ items: JSONValue, _ description: String) -> JSONValue {
        .object(["type": .string("array"), "items": items, "description": .string(description)])
    }
    static let labels: JSONValue = .object([
        "type": .string("object"),
        "additionalProperties": .object(["type": .array([.string("string"), .string("number"), .string("boolean")])]),
        "description": .string("labels that waves select on"),
    ])
    static let stringOrList: JSONValue = .object([
        "oneOf": .array([
            .object(["type": .string("string")]),
            .object(["type": .string("array"), "items": .object(["type": .string("string")])]),
        ])
    ])

    static var fleet: JSONValue {
        let shard = object(
            [
                "name": str("shard name"),
                "url": str(
                    "postgres://user@host:port/db (secrets via ${ENV}, PGPASSWORD or ~/.pgpass) or embedded:DATABASE"),
                "max_parallel": int("at most this many tenant steps at once on this shard", minimum: 1),
            ], required: ["name", "url"])
        let tenant = object(
            [
                "id": str("tenant id"), "shard": str("the shard hosting it"),
                "schema": str("schema-per-tenant: its schema"),
                "database": str("database-per-tenant: its database"), "labels": labels,
            ], required: ["id", "shard"])
        let generator = object(
            [
                "generate": object(
                    [
                        "count": int("how many tenants", minimum: 1), "id": str("id pattern, e.g. t{n:04}"),
                        "shard": stringOrList, "schema": str("schema pattern, e.g. tenant_{id}"),
                        "database": str("database pattern"), "labels": labels, "start": int("first n (default 1)"),
                    ], required: ["count", "id", "shard"])
            ], required: ["generate"])
        let registry = object(
            [
                "from": object(
                    [
                        "url": str("the registry's database: postgres://… or embedded:DATABASE (or name a shard)"),
                        "shard": str("the shard holding the registry table, and each row's shard unless it names one"),
                        "query": str(
                            "read-only query; columns id, shard (unless the source names one), schema or database, "
                                + "labels (json object of strings)"),
                    ], required: ["query"])
            ], required: ["from"])
        let discovery = object(
            [
                "discover": object(
                    [
                        "shard": str("the shard to look on"),
                        "shards": array(str("shard name"), "the shards to look on"),
                        "schemas": str("LIKE pattern of the schemas that are tenants, e.g. tenant_%"),
                        "databases": str("LIKE pattern of the databases that are tenants, e.g. tenant_%"),
                        "id": str("tenant id from the name: {name}, or {name#prefix} to strip a prefix"),
                        "labels": labels,
                    ])
            ], required: ["discover"])
        return object(
            [
                "fleet": str("fleet name"), "control": str("control store URL; empty → embedded local PostgreSQL"),
                "shards": array(shard, "PostgreSQL servers hosting tenants"),
                "tenants": array(
                    .object(["anyOf": .array([tenant, generator, registry, discovery])]),
                    "tenants, generators of tenants, registry queries (from:) and discovery (discover:)"),
                "notify": notify,
            ], required: ["fleet", "shards", "tenants"], description: "A Flotilla fleet (fleets/<fleet>/fleet.yaml)")
    }

    static var change: JSONValue {
        let backfill = object(
            [
                "table": str("table to update"), "set": str("SET clause, e.g. email_verified = true"),
                "where": str("extra condition"), "key": str("integer key column batches range on (default id)"),
                "batch_size": int("rows per batch (default 1000); with target_batch_time, the first's", minimum: 1),
                "target_batch_time": duration("size batches by time: +≤ 20% under it, shrink in proportion over it"),
                "min_batch": int("fewest rows a batch takes with target_batch_time (default 10)", minimum: 1),
                "max_batch": int("most rows a batch takes with target_batch_time (default 10000)", minimum: 1),
                "pause": duration("pause between batches"),
                "revert": str("SET clause that undoes the backfill on revert"),
            ], required: ["table", "set"])
        let phase = object(
            [
                "name": str("phase name"), "up": str("SQL that applies the phase"), "down": str("SQL that reverts it"),
                "verify": str("SQL whose first column must be true afterwards"), "backfill": backfill,
                "gate": enumeration(["approval"], "wait for flotilla approve before this phase"),
                "reversible": bool("false: never reverted automatically"),
                "transaction": enumeration(["auto", "none"], "auto: one transaction unless a statement forbids it"),
                "ignore": array(
                    object(
                        ["rule": str("lint rule id"), "reason": str("why it is safe here")],
                        required: ["rule", "reason"]), "acknowledged lint rules"),
            ], required: ["name"])
        // `pattern: {NAME: {parameters}}`: a zero-downtime pattern that expands into phases.
        let sqlValue: JSONValue = .object([
            "type": .array([.string("string"), .string("number"), .string("boolean")]),
            "description": .string("SQL expression"),
        ])
        let batches: [String: JSONValue] = [
            "key": str("integer key column backfill batches range on (default id)"),
            "batch_size": int("rows per batch (default 1000); with target_batch_time, the first's", minimum: 1),
            "target_batch_time": duration("size batches by time: +≤ 20% under it, shrink in proportion over it"),
            "min_batch": int("fewest rows a batch takes with target_batch_time (default 10)", minimum: 1),
            "max_batch": int("most rows a batch takes with target_batch_time (default 10000)", minimum: 1),
            "pause": duration("pause between batches (default 2ms; longer on its own while lock waits rise)"),
        ]
        let table = str("the table, as the tenant's search_path finds it")
        let column = str("the column")
        let type = str("SQL type, e.g. bigint, varchar(20)")
        let indexColumns: JSONValue = .object([
            "oneOf": .array([
                .object(["type": .string("string")]),
                .object(["type": .string("array"), "items": .object(["type": .string("string")])]),
            ]),
            "description": .string("a column (or expression), or a list of them"),
        ])
        let patterns: [String: JSONValue] = [
            "add-column": object(
                [
                    "table": table, "column": column, "type": type, "default": sqlValue,
                    "not_null": bool("NOT NULL, enforced with CHECK NOT VALID, VALIDATE, SET NOT NULL"),
                    "backfill": str("SQL expression filling the rows that exist"),
                ].merging(batches) { a, _ in a }, required: ["table", "column", "type"]),
            "rename-column": object(
                ["table": table, "column": column, "to": str("the new name")].merging(batches) { a, _ in a },
                required: ["table", "column", "to"]),
            "drop-column": object(["table": table, "column": column], required: ["table", "column"]),
            "change-type": object(
                [
                    "table": table, "column": column, "type": type,
                    "using": str("SQL expression of the new value (default column::type)"),
                    "shadow": str("shadow column name (default column_new)"),
                    "old": str("the old column's name after the switch (default column_old)"),
                    "default": sqlValue,
                ].merging(batches) { a, _ in a }, required: ["table", "column", "type"]),
            "add-index": object(
                [
                    "table": table, "columns": indexColumns, "name": str("index name (default table_columns_idx)"),
                    "unique": bool("a unique index"), "method": str("btree, gin, gist, brin, hash…"),
                    "where": str("predicate of a partial index"),
                ], required: ["table", "columns"]),
            "add-constraint": object(
                ["table": table, "name": str("constraint name"), "check": str("the CHECK expression")],
                required: ["table", "name", "check"]),
            "add-foreign-key": object(
                [
                    "table": table, "columns": stringOrList, "references": str("the referenced table"),
                    "referenced_columns": stringOrList, "name": str("constraint name (default table_columns_fkey)"),
                    "on_delete": enumeration(
                        ["cascade", "restrict", "set null", "set default", "no action"], "ON DELETE action"),
                ], required: ["table", "columns", "references"]),
        ]
        var allPatterns = patterns
        allPatterns["add-column-not-null"] = patterns["add-column"]
        allPatterns["shadow-column"] = patterns["change-type"]
        let pattern: JSONValue = .object([
            "type": .string("object"), "properties": .object(allPatterns), "additionalProperties": .bool(false),
            "minProperties": .number(1), "maxProperties": .number(1),
            "description": .string("a zero-downtime pattern, expanded into phases: {NAME: {parameters}}"),
        ])
        guard
            case .object(var members) = object(
                [
                    "change": str("change id, as its file name: NNNN_name"), "description": str("what and why"),
                    "requires": array(.object(["type": .string("string")]), "changes that must come first"),
                    "phases": array(phase, "phases, in order"), "pattern": pattern,
                ], required: ["change"], description: "A Flotilla change (fleets/<fleet>/changes/NNNN_name.yaml)")
        else { return .null }
        members["oneOf"] = .array([
            .object(["required": .array([.string("phases")])]), .object(["required": .array([.string("pattern")])]),
        ])
        return .object(members)
    }

    /// `throttle:` of a policy: per-shard health signals.
    static var throttle: JSONValue {
        let threshold: JSONValue = .object([
            "type": .array([.string("number"), .string("string")]),
            "description": .string(
                "a duration (5s) for lag and long transactions, a share (0.8 or \"80%\") for active_sessions, a number otherwise"
            ),
        ])
        let signal = object([
            "signal": enumeration(
                ["replication_lag", "lock_waiters", "long_transactions", "active_sessions", "wal_archive_backlog"],
                "a built-in signal"),
            "sql": str("a read-only query whose first column is the signal's value"),
            "name": str("the name of a sql signal"),
            "pause_above": threshold, "halt_above": threshold,
            "replica": str("replication_lag read on this replica (postgres:// URL)"),
        ])
        return object(
            [
                "interval": duration("how often each shard's signals are read (default 1s)"),
                "on_unknown": enumeration(["pause", "ignore"], "what an unreadable signal means (default pause)"),
                "max_deferrals": int(
                    "times a step whose table an old transaction locks goes to the end of its wave's queue (default 10)"
                ),
                "signals": array(signal, "signals and their thresholds"),
            ], required: ["signals"])
    }

    static var policy: JSONValue {
        let selector = object([
            "tenants": array(.object(["type": .string("string")]), "explicit tenant ids"), "labels": labels,
            "shards": stringOrList, "shard": stringOrList,
            "percent": .object([
                "type": .array([.string("number"), .string("string")]),
                "description": .string("percent of the whole fleet, rounded up"),
            ]),
            "count": int("at most this many tenants", minimum: 1), "remaining": bool("every tenant not taken yet"),
        ])
        let wave = object(
            [
                "name": str("wave name"), "select": selector, "by": enumeration(["shard"], "one shard after another"),
                "bake": duration("watch period after the wave"),
            ], required: ["name", "select"])
        let budget: JSONValue = .object([
            "type": .array([.string("integer"), .string("string")]),
            "description": .string("a count or a percent like \"2%\""),
        ])
        let check = object(
            [
                "name": str("check name"), "sql": str("SQL run in each tenant, read-only"),
                "http": object(
                    [
                        "url": str("URL; {tenant} {shard} {wave} {phase} {rollout} are filled in"),
                        "status": int("expected status", minimum: 100),
                        "max_latency": duration("slowest acceptable answer"),
                        "body_contains": str("text the body must contain"),
                        "json_field": str("dotted path into a JSON body"),
                        "equals": str("the value json_field must have"),
                    ], required: ["url"]),
                "command": .object([
                    "type": .string("array"), "items": .object(["type": .string("string")]),
                    "description": .string("program and arguments; exit 0 passes"),
                ]),
                "scope": enumeration(["tenant", "wave", "preflight"], "when it runs"),
                "interval": duration("how often during bake"),
                "timeout": duration("a measurement past this is an error"), "failure_limit": int("failures allowed"),
                "consecutive_error_limit": int("consecutive errors allowed"),
                "min": .object(["type": .string("number")]), "max": .object(["type": .string("number")]),
                "prometheus": object(
                    [
                        "url": str("Prometheus server URL; the check asks <url>/api/v1/query"),
                        "query": str("PromQL; {tenant} {shard} {wave} {phase} {rollout} are filled in, escaped"),
                        "min": .object(["type": .string("number")]), "max": .object(["type": .string("number")]),
                    ], required: ["url", "query"]),
                "compare": enumeration(["cohort"], "compare the wave's tenants with tenants not yet changed"),
                "max_regression": .object([
                    "type": .array([.string("number"), .string("string")]),
                    "description": .string(
                        "how much worse the changed median may be: \"20%\" of the baseline, or an amount"),
                ]),
                "min_samples": int("readings needed on each side for a verdict", minimum: 1),
            ], required: ["name"])
        return object(
            [
                "policy": str("policy name"), "description": str("what it is for"),
                "waves": array(wave, "waves, in order"),
                "parallel": int("tenant steps at once in all", minimum: 1),
                "per_shard_parallel": int("tenant steps at once per shard", minimum: 1),
                "lock_timeout": duration("lock_timeout of each tenant step"),
                "connect_timeout": duration(
                    "how long opening a tenant's session may take, and a server may stay unreachable before its tenants fail (default 5s)"
                ),
                "statement_timeout": duration("statement_timeout of each tenant step"),
                "retries": object([
                    "attempts": int("tries in all", minimum: 1), "backoff": duration("wait between tries"),
                ]),
                "failure_budget": object(["per_wave": budget, "total": budget]),
                "checks": array(check, "health checks"),
                "on_failure": enumeration(["revert", "halt", "quarantine"], "what a failed wave does"),
                "on_inconclusive": enumeration(["pause", "halt", "continue"], "what an inconclusive check does"),
                "seed": int("shuffles the fleet's order deterministically"),
                "risk": object([
                    "rows_medium": int(
                        "rows from which a rewrite or scan is at least medium risk on the live schema (default 100000)",
                        minimum: 0),
                    "rows_high": int(
                        "rows from which a rewrite or scan is high risk on the live schema (default 10000000)",
                        minimum: 0),
                ]),
                "throttle": throttle,
                "notify": notify,
            ], required: ["policy", "waves"], description: "A Flotilla rollout policy (policies/<name>.yaml)")
    }

    /// The whole schema: a file is a fleet, a change or a policy.
    public static var document: JSONValue {
        .object([
            "$schema": .string("https://json-schema.org/draft/2020-12/schema"),
            "$id": .string("https://flotilla.dev/schema/flotilla.json"),
            "title": .string("Flotilla definitions"),
            "$defs": .object(["fleet": fleet, "change": change, "policy": policy]),
            "oneOf": .array([
                .object(["$ref": .string("#/$defs/fleet")]), .object(["$ref": .string("#/$defs/change")]),
                .object(["$ref": .string("#/$defs/policy")]),
            ]),
        ])
    }
}
