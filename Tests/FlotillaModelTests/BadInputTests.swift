import FlotillaModel
import Testing

/// One invalid definition, and the diagnostic it must produce: where (line:col, 1-based) and what (fragments of the message).
/// Each YAML text is a list of lines, so that the expected line is the index + 1; the expected column is counted by hand
/// in the comment next to each case.
struct BadInput: Sendable, CustomTestStringConvertible {
    var name: String
    var kind: DefinitionKind
    var lines: [String]
    var line: Int
    var column: Int
    var fragments: [String]

    var yaml: String { lines.joined(separator: "\n") + "\n" }
    var testDescription: String { "\(kind.rawValue): \(name)" }
}

private func bad(
    _ name: String, _ kind: DefinitionKind, at line: Int, _ column: Int, _ fragments: [String], _ lines: [String]
) -> BadInput {
    BadInput(name: name, kind: kind, lines: lines, line: line, column: column, fragments: fragments)
}

/// The shards part of most fleet cases (lines 1–4).
private let twoShards = [
    "fleet: demo",  // 1
    "shards:",  // 2
    "  - {name: pg-a, url: \"embedded:a\"}",  // 3
    "  - {name: pg-b, url: \"embedded:b\"}",  // 4
]

let badInputs: [BadInput] = [
    // MARK: fleets
    bad(
        "unknown shard key, with a suggestion", .fleet, at: 5, 5,
        [
            "unknown key 'max_paralel' in a shard", "did you mean 'max_parallel'?",
            "expected one of: name, url, max_parallel",
        ],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: embedded:a",
            "    max_paralel: 4",  // key at col 5
            "tenants:", "  - {id: acme, shard: pg-a, schema: tenant_acme}",
        ]),
    bad(
        "unknown top-level key, with a suggestion", .fleet, at: 2, 1,
        ["unknown key 'contrl' in a fleet", "did you mean 'control'?"],
        ["fleet: demo", "contrl: embedded:x"] + twoShards.dropFirst() + [
            "tenants:", "  - {id: a, shard: pg-a, schema: s}",
        ]),
    bad(
        "string for max_parallel", .fleet, at: 5, 19, ["expected a whole number, found a string ('four')"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: embedded:a",
            "    max_parallel: four",  // 4 spaces, "max_parallel:" 5-17, space 18 → col 19
            "tenants:", "  - {id: acme, shard: pg-a, schema: tenant_acme}",
        ]),
    bad(
        "quoted number for max_parallel", .fleet, at: 5, 19, ["expected a whole number, found a string ('4')"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: embedded:a",
            "    max_parallel: \"4\"",  // the quote at col 19
            "tenants:", "  - {id: acme, shard: pg-a, schema: tenant_acme}",
        ]),
    bad(
        "max_parallel 0", .fleet, at: 5, 19, ["expected a number of at least 1, found 0"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: embedded:a", "    max_parallel: 0",
            "tenants:", "  - {id: acme, shard: pg-a, schema: tenant_acme}",
        ]),
    bad(
        "a list for fleet", .fleet, at: 1, 8, ["expected a string, found a list"],
        ["fleet: [a, b]"] + twoShards.dropFirst() + ["tenants:", "  - {id: a, shard: pg-a, schema: s}"]),
    bad(
        "a string for tenants", .fleet, at: 5, 10, ["expected a list of tenants, found a string ('acme')"],
        twoShards + ["tenants: acme"]),  // "tenants:" 1-8, space 9 → col 10
    bad(
        "undefined shard, with the list of shards", .fleet, at: 7, 12,
        ["shard 'pg-c' is not defined", "(shards: pg-a, pg-b)"],
        twoShards + [
            "tenants:", "  - id: acme",
            "    shard: pg-c",  // "shard:" 5-10, space 11 → col 12
            "    schema: tenant_acme",
        ]),
    bad(
        "undefined shard in a generator's list", .fleet, at: 9, 14, ["shard 'pg-x' is not defined", "(shards: pg-a)"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: embedded:a", "tenants:", "  - generate:",
            "      count: 2", "      id: \"t{n}\"",
            "      shard: [pg-a, pg-x]",  // 6 spaces, "shard:" 7-12, space 13, "[" at 14
            "      schema: \"tenant_{id}\"",
        ]),
    bad(
        "duplicate tenant id", .fleet, at: 6, 10, ["duplicate tenant id 'acme'", "first defined at line 5"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:",
            "  - {id: acme, shard: pg-a, schema: s1}",
            "  - {id: acme, shard: pg-a, schema: s2}",  // "  - {" 1-5, "id" 6-7, ":" 8, " " 9 → col 10
        ]),
    bad(
        "generated id clashing with an explicit one", .fleet, at: 6, 30,
        ["duplicate tenant id 't1'", "first defined at line 5"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:",
            "  - {id: t1, shard: pg-a, schema: s1}",
            // "  - generate: {" 1-15, "count" 16-20, ": " 21-22, "2" 23, ", " 24-25, "id" 26-27, ": " 28-29, quote 30
            "  - generate: {count: 2, id: \"t{n}\", shard: pg-a, schema: \"g_{id}\"}",
        ]),
    bad(
        "duplicate shard name", .fleet, at: 4, 12, ["duplicate shard name 'pg-a'", "first defined at line 3"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}",
            "  - {name: pg-a, url: \"embedded:b\"}",  // "  - {" 1-5, "name" 6-9, ":" 10, " " 11 → col 12
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "schema starting with a digit", .fleet, at: 8, 13, ["schema name '1bad' must start with a letter or _"],
        twoShards + ["tenants:", "  - id: acme", "    shard: pg-a", "    schema: \"1bad\""]),  // quote at col 13
    bad(
        "schema with a dash", .fleet, at: 8, 13, ["schema name 'a-b' contains '-'"],
        twoShards + ["tenants:", "  - id: acme", "    shard: pg-a", "    schema: \"a-b\""]),
    bad(
        "schema starting with pg_", .fleet, at: 8, 13, ["schema name 'pg_x' starts with pg_"],
        twoShards + ["tenants:", "  - id: acme", "    shard: pg-a", "    schema: \"pg_x\""]),
    bad(
        "both schema and database", .fleet, at: 9, 15, ["either 'schema'", "or 'database'", "not both"],
        twoShards + [
            "tenants:", "  - id: acme", "    shard: pg-a", "    schema: s1",
            "    database: d1",  // "database:" 5-13, space 14 → col 15
        ]),
    bad(
        "neither schema nor database", .fleet, at: 6, 5, ["missing 'schema' or 'database'"],
        twoShards + ["tenants:", "  - id: acme", "    shard: pg-a"]),  // the tenant mapping starts at col 5
    bad(
        "two tenants in the same schema of a shard", .fleet, at: 6, 10,
        ["tenant 'b' uses schema s1 on shard 'pg-a', which tenant 'a' already uses"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:",
            "  - {id: a, shard: pg-a, schema: s1}", "  - {id: b, shard: pg-a, schema: s1}",
        ]),
    bad(
        "tenant id with a space", .fleet, at: 6, 9, ["tenant id 'a b' contains ' '"],
        twoShards + ["tenants:", "  - id: \"a b\"", "    shard: pg-a", "    schema: s1"]),  // "  - id: " 1-8 → col 9
    bad(
        "a list as a label value", .fleet, at: 9, 20, ["expected a plain value, found a list"],
        twoShards + [
            "tenants:", "  - id: acme", "    shard: pg-a", "    schema: s1",
            "    labels: {tier: [a]}",  // "labels:" 5-11, " " 12, "{" 13, "tier" 14-17, ":" 18, " " 19 → col 20
        ]),
    bad(
        "unterminated ${ in a shard URL", .fleet, at: 4, 21, ["unterminated '${'"],
        [
            "fleet: demo", "shards:", "  - name: pg-a",
            "    url: postgres://${PGUSER@db/tenants",  // value at col 10, "$" 11 characters in → col 21
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "invalid variable name in ${}", .fleet, at: 4, 10, ["invalid variable name '1X'"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: ${1X}",
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "URL that is not postgres:// or embedded:", .fleet, at: 4, 10,
        ["expected a postgres:// URL or embedded:DATABASE, found 'mysql://db/x'"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: mysql://db/x",
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "fleet without shards", .fleet, at: 1, 1, ["missing required key 'shards' in a fleet"],
        ["fleet: demo", "tenants:", "  - {id: acme, shard: pg-a, schema: s1}"]),
    bad(
        "generator with an unknown placeholder", .fleet, at: 6, 7, ["bad pattern 't{x}'", "unknown placeholder '{x}'"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:", "  - generate:",
            "      count: 3",  // the generator's mapping starts at col 7
            "      id: \"t{x}\"", "      shard: pg-a", "      schema: \"tenant_{id}\"",
        ]),
    bad(
        "generator with count 0", .fleet, at: 6, 14, ["expected a number of at least 1, found 0"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:", "  - generate:",
            "      count: 0",  // "count:" 7-12, space 13 → col 14
            "      id: \"t{n}\"", "      shard: pg-a", "      schema: \"tenant_{id}\"",
        ]),
    bad(
        "generator without schema or database", .fleet, at: 6, 7, ["missing 'schema' or 'database' pattern"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:", "  - generate:",
            "      count: 3", "      id: \"t{n}\"", "      shard: pg-a",
        ]),
    bad(
        // Inside the unclosed flow sequence, "pg-b" and "tenants" fold into one plain scalar; the ':' after it (3:8) is
        // where libyaml wanted ',' or ']'. The message also says where the sequence opened.
        "YAML syntax: unclosed [", .fleet, at: 3, 8,
        ["YAML syntax error", "did not find expected ',' or ']'", "while parsing a flow sequence at line 2"],
        [
            "fleet: demo",
            "shards: [pg-a, pg-b",
            "tenants:",
            "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        // The same at the end of the file: the error is at the end of the stream (line 3, col 1).
        "YAML syntax: unclosed [ at the end", .fleet, at: 3, 1,
        ["YAML syntax error", "did not find expected ',' or ']'"],
        ["fleet: demo", "shards: [pg-a, pg-b"]),
    bad(
        // libyaml's problem mark is the end of the stream (after the last newline: 4:1); the context names line 3.
        "YAML syntax: unclosed quote", .fleet, at: 4, 1,
        ["YAML syntax error", "found unexpected end of stream", "while scanning a quoted scalar at line 3"],
        ["fleet: demo", "shards:", "  - name: \"pg-a"]),
    bad(
        "YAML syntax: bad indentation", .fleet, at: 4, 4, ["YAML syntax error"],
        [
            "fleet: demo", "shards:", "  - name: pg-a",
            "   url: embedded:a",  // one column left of "name"
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        // Two shapes for generated tenants is one too many, as for a single tenant.
        "generator with both schema and database", .fleet, at: 8, 17, ["not both"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:", "  - generate:",
            "      count: 3", "      id: \"t{n}\"",
            "      database: \"db_{id}\"",  // "database:" 7-15, space 16 → col 17
            "      shard: pg-a", "      schema: \"tenant_{id}\"",
        ]),
    bad(
        "generator with an empty list of shards", .fleet, at: 8, 14, ["shard"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:",
            "  - {id: acme, shard: pg-a, schema: s1}", "  - generate:", "      count: 3",
            "      shard: []",  // "shard:" 7-12, space 13 → col 14
            "      id: \"t{n}\"", "      schema: \"tenant_{id}\"",
        ]),
    bad("an empty file", .fleet, at: 1, 1, ["the file is empty; expected a fleet definition"], ["# nothing here"]),
    bad("a list at the top", .fleet, at: 1, 1, ["expected a fleet (a mapping), found a list"], ["- fleet: demo"]),

    bad(
        "tenant schema public", .fleet, at: 8, 13, ["schema name 'public' is shared by everything"],
        twoShards + ["tenants:", "  - id: acme", "    shard: pg-a", "    schema: public"]),  // "    schema: " → col 13
    bad(
        "tenant schema information_schema", .fleet, at: 8, 13,
        ["schema name 'information_schema' is PostgreSQL's own catalog schema"],
        twoShards + ["tenants:", "  - id: acme", "    shard: pg-a", "    schema: information_schema"]),
    bad(
        "tenant schema pg_toast", .fleet, at: 8, 13, ["schema name 'pg_toast' starts with pg_"],
        twoShards + ["tenants:", "  - id: acme", "    shard: pg-a", "    schema: pg_toast"]),
    bad(
        "tenant schema pg_catalog, in capitals", .fleet, at: 8, 13, ["schema name 'PG_CATALOG' starts with pg_"],
        twoShards + ["tenants:", "  - id: acme", "    shard: pg-a", "    schema: PG_CATALOG"]),
    bad(
        "tenant database template1", .fleet, at: 8, 15, ["database name 'template1' is one of PostgreSQL's own"],
        twoShards + ["tenants:", "  - id: acme", "    shard: pg-a", "    database: template1"]),  // col 15
    bad(
        "generated schemas starting with pg_", .fleet, at: 9, 15, ["generated schema name 'pg_t1' starts with pg_"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:", "  - generate:",
            "      count: 2", "      id: \"t{n}\"", "      shard: pg-a",
            "      schema: \"pg_{id}\"",  // "      schema: " 1-14 → the quote at col 15
        ]),
    bad(
        "a generated schema public", .fleet, at: 9, 15, ["generated schema name 'public' is shared by everything"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:", "  - generate:",
            "      count: 1", "      id: \"t{n}\"", "      shard: pg-a", "      schema: public",
        ]),
    bad(
        "generator count of a million", .fleet, at: 6, 14, ["expected a number of at most 100000, found 1000000"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:", "  - generate:",
            "      count: 1000000",  // "count:" 7-12, space 13 → col 14
            "      id: \"t{n}\"", "      shard: pg-a", "      schema: \"tenant_{id}\"",
        ]),
    bad(
        "generators past the fleet's tenant limit", .fleet, at: 7, 23,
        ["would bring the fleet to 200001 tenants", "at most 200000"],
        [
            "fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:",
            "  - {id: acme, shard: pg-a, schema: s1}",
            "  - generate: {count: 100000, id: \"a{n}\", shard: pg-a, schema: \"a_{id}\"}",
            // "  - generate: {" 1-15, "count" 16-20, ": " 21-22 → col 23
            "  - generate: {count: 100000, id: \"b{n}\", shard: pg-a, schema: \"b_{id}\"}",
        ]),
    bad(
        "shard URL with port 99999", .fleet, at: 4, 10,
        ["port 99999", "not a number between 1 and 65535", "postgres://app:***@db:99999/tenants"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: postgres://app:hunter2@db:99999/tenants",
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "shard URL with port 0 as a parameter", .fleet, at: 4, 10, ["port 0", "not a number between 1 and 65535"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: postgres://app@db/tenants?port=0",
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "shard URL with a misspelt sslmode", .fleet, at: 4, 10,
        ["sslmode 'requir'", "did you mean 'require'?", "verify-full"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: \"postgres://app@db/tenants?sslmode=requir\"",
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "shard URL with unknown query parameters", .fleet, at: 4, 10,
        ["unknown query parameters 'sslrootcert', 'pool'", "supported: host, port"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: postgres://app@db/tenants?sslrootcert=x&pool=5",
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "shard URL without a database", .fleet, at: 4, 10, ["has no database name"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: postgres://app@db:5432",
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "shard URL without a host", .fleet, at: 4, 10, ["has no host"],
        [
            "fleet: demo", "shards:", "  - name: pg-a", "    url: postgres://app@/tenants",
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "an empty control", .fleet, at: 2, 10,
        ["control is empty; remove the key to use the embedded PostgreSQL"],
        ["fleet: demo", "control: \"\""] + twoShards.dropFirst() + ["tenants:", "  - {id: a, shard: pg-a, schema: s}"]),
    bad(
        "a control that is empty after ${…:-}", .fleet, at: 2, 10, ["control is empty"],
        ["fleet: demo", "control: ${CONTROL_URL:-}"] + twoShards.dropFirst() + [
            "tenants:", "  - {id: a, shard: pg-a, schema: s}",
        ]),
    bad(
        "control URL with a bad port", .fleet, at: 2, 10, ["control: URL", "port 70000", "c:***@ctl"],
        ["fleet: demo", "control: postgres://c:pw@ctl:70000/flotilla"] + twoShards.dropFirst() + [
            "tenants:", "  - {id: a, shard: pg-a, schema: s}",
        ]),
    bad(
        "control on an embedded: database", .fleet, at: 2, 10,
        ["expected a postgres:// or postgresql:// URL, found 'embedded:x'"],
        ["fleet: demo", "control: embedded:x"] + twoShards.dropFirst() + [
            "tenants:", "  - {id: a, shard: pg-a, schema: s}",
        ]),
    bad(
        "an unset ${VAR} in a shard URL", .fleet, at: 4, 21,
        ["environment variable 'NOPE_USER' is not set", "${NOPE_USER:-}"],
        [
            "fleet: demo", "shards:", "  - name: pg-a",
            "    url: postgres://${NOPE_USER}@db/tenants",  // value at col 10, "$" 11 characters in → col 21
            "tenants:", "  - {id: acme, shard: pg-a, schema: s1}",
        ]),
    bad(
        "an unset ${VAR} in a label", .fleet, at: 9, 21, ["environment variable 'OWNER' is not set"],
        twoShards + [
            "tenants:", "  - id: acme", "    shard: pg-a", "    schema: s1",
            "    labels: {owner: \"${OWNER}\"}",  // "    labels: {" 1-13, "owner" 14-18, ": " 19-20 → quote at 21
        ]),

    // MARK: changes
    bad(
        "phase without name", .change, at: 3, 5, ["missing required key 'name' in a phase"],
        ["change: 0001_x", "phases:", "  - up: SELECT 1"]),
    bad(
        "phase with neither up nor backfill", .change, at: 3, 5,
        ["phase 'expand' does nothing: give it 'up' SQL or a 'backfill'"],
        ["change: 0001_x", "phases:", "  - name: expand", "    down: SELECT 1"]),
    bad(
        "reversible: true without down", .change, at: 5, 17, ["says reversible: true but has no 'down' SQL"],
        [
            "change: 0001_x", "phases:", "  - name: expand", "    up: SELECT 1",
            "    reversible: true",  // "reversible:" 5-15, space 16 → col 17
        ]),
    bad(
        "duplicate phase name", .change, at: 4, 12, ["duplicate phase name 'expand'", "first defined at line 3"],
        ["change: 0001_x", "phases:", "  - {name: expand, up: SELECT 1}", "  - {name: expand, up: SELECT 2}"]),
    bad(
        "misspelt gate, with a suggestion", .change, at: 5, 11,
        ["expected one of approval, found 'aproval'", "did you mean 'approval'?"],
        ["change: 0001_x", "phases:", "  - name: expand", "    up: SELECT 1", "    gate: aproval"]),
    bad(
        "unknown phase key, with a suggestion", .change, at: 5, 5,
        ["unknown key 'dwn' in a phase", "did you mean 'down'?"],
        ["change: 0001_x", "phases:", "  - name: expand", "    up: SELECT 1", "    dwn: SELECT 2"]),
    bad(
        "backfill without set", .change, at: 4, 15, ["missing required key 'set' in a backfill"],
        ["change: 0001_x", "phases:", "  - name: fill", "    backfill: {table: users}"]),  // "{" at col 15
    bad(
        "backfill table that is not an identifier", .change, at: 4, 23, ["table name 'users;' contains ';'"],
        ["change: 0001_x", "phases:", "  - name: fill", "    backfill: {table: \"users;\", set: \"a = 1\"}"]),
    bad(
        "backfill with a bad pause", .change, at: 4, 51,
        ["expected a duration like 500ms, 30s, 5m or 1h, found '20 ms'"],
        // "    backfill: {" 1-15, "table: users, " 16-29, "set: \"a = 1\", " 30-43, "pause: " 44-50 → col 51
        ["change: 0001_x", "phases:", "  - name: fill", "    backfill: {table: users, set: \"a = 1\", pause: 20 ms}"]),
    bad(
        // An empty SET clause would plan "UPDATE users SET  WHERE …".
        "backfill with an empty set", .change, at: 4, 35, ["empty"],
        ["change: 0001_x", "phases:", "  - name: fill", "    backfill: {table: users, set: \"\"}"]),  // quote at col 35
    bad(
        "requires as a mapping", .change, at: 2, 11, ["expected a list of change ids, found a mapping"],
        ["change: 0001_x", "requires: {0001_users: true}", "phases:", "  - {name: p, up: SELECT 1}"]),
    bad(
        "change without phases", .change, at: 1, 1, ["missing required key 'phases' in a change"],
        ["change: 0001_x", "description: nothing"]),
    bad(
        "change with an empty list of phases", .change, at: 2, 9, ["a change needs at least one phase"],
        ["change: 0001_x", "phases: []"]),
    bad(
        "change id with a space", .change, at: 1, 9, ["change id 'a b' contains ' '"],
        ["change: \"a b\"", "phases: []"]),
    bad(
        "unknown transaction mode", .change, at: 5, 18, ["expected one of auto or none, found 'never'"],
        ["change: 0001_x", "phases:", "  - name: expand", "    up: SELECT 1", "    transaction: never"]),

    bad(
        // Pasted into "… WHERE key > $1 AND (where)", this would be "AND (email IS NULL) OR (true)": every row, forever.
        "backfill where that escapes its parentheses", .change, at: 7, 28,
        ["where has an unbalanced ')': no '(' before it opens it"],
        [
            "change: 0001_x", "phases:", "  - name: fill", "    backfill:", "      table: users",
            "      set: \"email_verified = true\"",
            "      where: \"email IS NULL) OR (true\"",  // quote at col 14, ')' 14 characters in → col 28
        ]),
    bad(
        "backfill set with a second statement", .change, at: 6, 22, ["set must be a single expression", "';'"],
        [
            "change: 0001_x", "phases:", "  - name: fill", "    backfill:", "      table: users",
            "      set: \"n = n + 1; DROP TABLE x\"",  // quote at col 12, ';' 10 characters in → col 22
        ]),
    bad(
        "backfill set with a WHERE of its own", .change, at: 6, 18, ["'WHERE' would change which rows"],
        [
            "change: 0001_x", "phases:", "  - name: fill", "    backfill:", "      table: users",
            "      set: a = 1 WHERE true OR",  // plain value at col 12, "WHERE" 7 characters in → col 18
        ]),
    bad(
        "backfill revert with an unterminated string", .change, at: 7, 20, ["revert has an unterminated string"],
        [
            "change: 0001_x", "phases:", "  - name: fill", "    backfill:", "      table: users", "      set: a = 1",
            "      revert: \"a = 'x\"",  // quote at col 15, "'" 5 characters in → col 20
        ]),
    bad(
        "backfill where ending in a -- comment", .change, at: 7, 21, ["where ends in a -- comment"],
        [
            "change: 0001_x", "phases:", "  - name: fill", "    backfill:", "      table: users", "      set: a = 1",
            "      where: \"a = 1 -- only new\"",  // quote at col 14, "--" 7 characters in → col 21
        ]),
    bad(
        "backfill where in a block with an unclosed (", .change, at: 8, 14,
        ["where has an unbalanced '(': it is never closed"],
        [
            "change: 0001_x", "phases:", "  - name: fill", "    backfill:", "      table: users", "      set: a = 1",
            "      where: |",
            "        b IN (1, 2",  // indent 8, '(' 6 characters in → col 14
            "        AND c",
        ]),
    bad(
        "backfill where with an unterminated quoted name", .change, at: 7, 15,
        ["where has an unterminated quoted identifier"],
        [
            "change: 0001_x", "phases:", "  - name: fill", "    backfill:", "      table: users", "      set: a = 1",
            "      where: '\"Email IS NULL'",  // YAML single quote at col 14 → the '"' at col 15
        ]),
    bad(
        "backfill where with an unterminated /* comment", .change, at: 7, 17, ["where has an unterminated /* comment"],
        [
            "change: 0001_x", "phases:", "  - name: fill", "    backfill:", "      table: users", "      set: a = 1",
            "      where: \"a /* b\"",  // quote at col 14, "/*" 3 characters in → col 17
        ]),
    bad(
        "backfill where with an unterminated dollar quote", .change, at: 7, 19,
        ["where has an unterminated dollar-quoted string", "$q$"],
        [
            "change: 0001_x", "phases:", "  - name: fill", "    backfill:", "      table: users", "      set: a = 1",
            "      where: \"a = $q$x\"",  // quote at col 14, "$q$" 5 characters in → col 19
        ]),
    bad(
        "up that is only comments", .change, at: 5, 7, ["up has no SQL statement, only comments"],
        [
            "change: 0001_x", "phases:", "  - name: expand", "    up: |",
            "      -- nothing yet",  // the block's first line, indent 6 → col 7
            "      /* later */",
        ]),
    bad(
        "down that is only a comment", .change, at: 5, 12, ["down has no SQL statement, only comments"],
        [
            "change: 0001_x", "phases:", "  - name: expand", "    up: SELECT 1",
            "    down: \"-- nothing\"",  // quote at col 11 → the comment at col 12
        ]),
    bad(
        "verify with a second statement", .change, at: 5, 26, ["verify must be a single statement"],
        [
            "change: 0001_x", "phases:", "  - name: expand", "    up: SELECT 1",
            "    verify: SELECT true; DROP TABLE users",  // plain value at col 13, "DROP" 14 characters in → col 26
        ]),
    bad(
        "verify with an unbalanced )", .change, at: 5, 28, ["verify has an unbalanced ')'"],
        [
            "change: 0001_x", "phases:", "  - name: expand", "    up: SELECT 1",
            "    verify: SELECT count(*)) = 0",  // plain value at col 13, the second ')' 16 characters in → col 28
        ]),
    bad(
        "a change with 101 phases", .change, at: 3, 3, ["a change has at most 100 phases, found 101"],
        ["change: 0001_x", "phases:"] + (1...101).map { "  - {name: p\($0), up: SELECT 1}" }),  // the list at col 3
    bad(
        "pattern using that escapes its parentheses", .change, at: 3, 60, ["using expression 'a) OR (true'"],
        [
            "change: 0001_x", "pattern:",
            // the quote of the using value at col 60
            "  change-type: {table: users, column: a, type: int, using: \"a) OR (true\"}",
        ]),

    // MARK: policies
    bad(
        "percent 0", .policy, at: 4, 23, ["expected a percent above 0 and at most 100, found 0"],
        ["policy: p", "waves:", "  - name: canary", "    select: {percent: 0}"]),  // "{" 13, "percent" 14-20, ": " → 23
    bad(
        "percent 101", .policy, at: 4, 23, ["expected a percent above 0 and at most 100, found 101"],
        ["policy: p", "waves:", "  - name: canary", "    select: {percent: 101}"]),
    bad(
        "percent as a word", .policy, at: 4, 23, ["expected a percent above 0 and at most 100, found a string ('ten')"],
        ["policy: p", "waves:", "  - name: canary", "    select: {percent: ten}"]),
    bad(
        // Double("nan") is NaN, which is neither <= 0 nor > 100; planning it would trap in Int(NaN).
        "percent nan", .policy, at: 4, 23, ["expected a percent above 0 and at most 100"],
        ["policy: p", "waves:", "  - name: canary", "    select: {percent: nan}"]),
    bad(
        "empty selector", .policy, at: 4, 13, ["empty selector: wave 'canary' selects nobody"],
        ["policy: p", "waves:", "  - name: canary", "    select: {}"]),
    bad(
        "bake: 30 seconds", .policy, at: 5, 11, ["expected a duration like 500ms, 30s, 5m or 1h, found '30 seconds'"],
        ["policy: p", "waves:", "  - name: rest", "    select: {remaining: true}", "    bake: 30 seconds"]),
    bad(
        "lock_timeout: 5x", .policy, at: 5, 15, ["expected a duration like 500ms, 30s, 5m or 1h, found '5x'"],
        ["policy: p", "waves:", "  - name: rest", "    select: {remaining: true}", "lock_timeout: 5x"]),
    bad(
        "on_failure with a suggestion", .policy, at: 5, 13,
        ["expected one of revert, halt or quarantine, found 'revrt'", "did you mean 'revert'?"],
        ["policy: p", "waves:", "  - {name: rest, select: {remaining: true}}", "parallel: 4", "on_failure: revrt"]),
    bad(
        "failure budget 200%", .policy, at: 4, 28, ["expected a count or a percent like \"2%\", found '200%'"],
        ["policy: p", "waves:", "  - {name: rest, select: {remaining: true}}", "failure_budget: {per_wave: \"200%\"}"]),
    bad(
        "a check with both sql and http", .policy, at: 5, 5,
        ["check 'c' has sql and http; a check has exactly one of sql, http, command or prometheus"],
        [
            "policy: p", "waves:", "  - {name: rest, select: {remaining: true}}", "checks:",
            "  - name: c", "    sql: SELECT true", "    http: {url: \"http://127.0.0.1/\"}",
        ]),
    bad(
        "a check with neither sql, http, command nor prometheus", .policy, at: 5, 5,
        ["check 'c' needs one of sql, http, command or prometheus"],
        [
            "policy: p", "waves:", "  - {name: rest, select: {remaining: true}}", "checks:", "  - name: c",
            "    scope: wave",
        ]),
    bad(
        "unknown policy key, with a suggestion", .policy, at: 4, 1,
        ["unknown key 'per_shard_paralel' in a policy", "did you mean 'per_shard_parallel'?"],
        ["policy: p", "waves:", "  - {name: rest, select: {remaining: true}}", "per_shard_paralel: 2"]),
    bad(
        "string for parallel", .policy, at: 4, 11, ["expected a whole number, found a string ('lots')"],
        ["policy: p", "waves:", "  - {name: rest, select: {remaining: true}}", "parallel: lots"]),
    bad(
        "a mapping for waves", .policy, at: 3, 3, ["expected a list of waves, found a mapping"],
        ["policy: p", "waves:", "  canary: {select: {remaining: true}}"]),
    bad(
        "duplicate wave name", .policy, at: 4, 5, ["duplicate wave name 'a'", "first defined at line 3"],
        ["policy: p", "waves:", "  - {name: a, select: {percent: 10}}", "  - {name: a, select: {remaining: true}}"]),
    bad(
        "percent and count together", .policy, at: 3, 44, ["a wave takes either percent or count, not both"],
        // "  - {name: a, select: {" 1-23, "percent: 10, " 24-36, "count" 37-41, ": " 42-43 → the value at col 44
        ["policy: p", "waves:", "  - {name: a, select: {percent: 10, count: 3}}"]),
    bad(
        "by: region", .policy, at: 3, 46, ["expected one of shard, found 'region'"],
        ["policy: p", "waves:", "  - {name: a, select: {remaining: true}, by: region}"]),
    bad(
        "remaining: false", .policy, at: 3, 35, ["remaining: false selects nothing"],
        ["policy: p", "waves:", "  - {name: a, select: {remaining: false}}"]),
    bad(
        "unknown selector key, with a suggestion", .policy, at: 3, 24,
        ["unknown key 'label' in a selector", "did you mean 'labels'?"],
        ["policy: p", "waves:", "  - {name: a, select: {label: {tier: free}}}"]),
    bad(
        "negative seed", .policy, at: 4, 7, ["expected a whole number of at least 0, found a number (-1)"],
        ["policy: p", "waves:", "  - {name: a, select: {remaining: true}}", "seed: -1"]),
    bad(
        "http probe with an ftp URL", .policy, at: 5, 27, ["expected an http:// or https:// URL, found 'ftp://x/'"],
        [
            "policy: p", "waves:", "  - {name: a, select: {remaining: true}}", "checks:",
            "  - {name: c, http: {url: \"ftp://x/\"}}",
        ]),
    bad(
        "min on an http check", .policy, at: 5, 5, ["min and max apply to sql checks only"],
        [
            "policy: p", "waves:", "  - {name: a, select: {remaining: true}}", "checks:",
            "  - {name: c, http: {url: \"http://x/\"}, min: 1}",
        ]),
    bad(
        "misspelt check scope, with a suggestion", .policy, at: 5, 42,
        ["expected one of tenant, wave or preflight, found 'tenants'", "did you mean 'tenant'?"],
        [
            "policy: p", "waves:", "  - {name: a, select: {remaining: true}}", "checks:",
            "  - {name: c, sql: \"SELECT true\", scope: tenants}",
        ]),
    bad(
        "retries with 0 attempts", .policy, at: 4, 21, ["expected a number of at least 1, found 0"],
        ["policy: p", "waves:", "  - {name: a, select: {remaining: true}}", "retries: {attempts: 0}"]),
    bad(
        "policy without waves", .policy, at: 1, 1, ["missing required key 'waves' in a policy"],
        ["policy: p", "parallel: 4"]),
    bad(
        "a check's sql with a second statement", .policy, at: 6, 20, ["sql must be a single statement"],
        [
            "policy: p", "waves:", "  - {name: a, select: {remaining: true}}", "checks:", "  - name: c",
            "    sql: SELECT 1; SELECT 2",  // plain value at col 10, the second SELECT 11 characters in → col 20
        ]),
    bad(
        "a check's sql with an unclosed (", .policy, at: 6, 23, ["sql has an unbalanced '('"],
        [
            "policy: p", "waves:", "  - {name: a, select: {remaining: true}}", "checks:", "  - name: c",
            "    sql: \"SELECT count(* FROM t\"",  // quote at col 10, '(' 13 characters in → col 23
        ]),
]

@Suite("Invalid definitions: each problem at its place")
struct BadInputTests {
    @Test("there are at least 30 cases")
    func enoughCases() {
        #expect(badInputs.count >= 30)
        #expect(Set(badInputs.map(\.name)).count == badInputs.count, "case names are unique")
    }

    @Test("the problem is reported at line:col with its message", arguments: badInputs)
    func reported(_ input: BadInput) {
        let found = diagnostics(of: input.yaml, as: input.kind, file: "bad/\(input.kind.rawValue).yaml")
        #expect(!found.isEmpty, "expected an error, the file parsed")
        let match = found.first { diagnostic in
            diagnostic.severity == .error && diagnostic.location.line == input.line
                && diagnostic.location.column == input.column
                && input.fragments.allSatisfy { diagnostic.message.contains($0) }
        }
        #expect(
            match != nil,
            "expected \(input.line):\(input.column): \(input.fragments.joined(separator: " … ")); found:\n\(describe(found))"
        )
        #expect(found.allSatisfy { $0.location.file == "bad/\(input.kind.rawValue).yaml" })
        #expect(found.map(\.location) == found.map(\.location).sorted(), "diagnostics come in file order")
    }
}
