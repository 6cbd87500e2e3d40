import FlotillaModel
import Testing

@Suite("All the problems of a file are reported")
struct ReportingTests {
    @Test("a fleet with three distinct errors yields three diagnostics, in file order")
    func threeFleetErrors() {
        let yaml = """
            fleet: demo
            shards:
              - name: pg-a
                url: embedded:a
                max_parallel: many
            tenants:
              - id: acme
                shard: pg-z
                schema: tenant_acme
              - id: globex
                shard: pg-a
                schema: "pg_globex"
            """
        let found = diagnostics(of: yaml, as: .fleet)
        #expect(found.count == 3, "\(describe(found))")
        #expect(found.map(\.location.line) == [5, 8, 12])
        #expect(found.map(\.location.column) == [19, 12, 13])
        #expect(found.map(\.keyPath) == ["shards[0].max_parallel", "tenants[0].shard", "tenants[1].schema"])
        #expect(found.allSatisfy { $0.severity == .error })
        #expect(found[0].description == "test.yaml:5:19: error: expected a whole number, found a string ('many')")
    }

    @Test("a change with three distinct errors yields three diagnostics")
    func threeChangeErrors() {
        let yaml = """
            change: 0002_x
            phases:
              - name: expand
                up: SELECT 1
                reversible: true
              - name: fill
                backfill: {table: users, set: "a = 1", batch_size: 0}
              - name: contract
                up: SELECT 2
                gate: later
            """
        let found = diagnostics(of: yaml, as: .change)
        #expect(found.count == 3, "\(describe(found))")
        #expect(found.map(\.location.line) == [5, 7, 10])
    }

    @Test("a policy with three distinct errors yields three diagnostics")
    func threePolicyErrors() {
        let yaml = """
            policy: p
            waves:
              - {name: canary, select: {percent: 0}}
              - {name: rest, select: {remaining: true}, bake: soon}
            on_failure: explode
            """
        let found = diagnostics(of: yaml, as: .policy)
        #expect(found.count == 3, "\(describe(found))")
        #expect(found.map(\.location.line) == [3, 4, 5])
    }

    @Test("a type error does not also report a second, derived error at the same place")
    func noCascadeFromWrongType() {
        // `fleet: [a, b]` is one mistake; today it also says "fleet name '' is empty" at the same place.
        for (kind, yaml) in [
            (
                DefinitionKind.fleet,
                "fleet: [a, b]\nshards:\n  - {name: pg-a, url: \"embedded:a\"}\ntenants:\n  - {id: a, shard: pg-a, schema: s}\n"
            ),
            (.change, "change: [a, b]\nphases:\n  - {name: p, up: SELECT 1}\n"),
            (.policy, "policy: [a, b]\nwaves:\n  - {name: w, select: {remaining: true}}\n"),
        ] {
            let found = diagnostics(of: yaml, as: kind)
            #expect(found.count == 1, "\(kind): \(describe(found))")
        }
    }

    @Test("an empty selector is reported even when the file has another, unrelated error before it")
    func emptySelectorWithOtherErrors() {
        // Both files have two independent mistakes; the empty selector of wave 'canary' must be reported in both.
        let typoFirst = """
            policy: p
            paralel: 4
            waves:
              - {name: canary, select: {}}
              - {name: rest, select: {remaining: true}}
            """
        let found = diagnostics(of: typoFirst, as: .policy)
        #expect(
            found.contains { $0.location.line == 2 && $0.message.contains("did you mean 'parallel'") },
            "\(describe(found))")
        #expect(found.contains { $0.location.line == 4 && $0.message.contains("empty selector") }, "\(describe(found))")

        let badBakeFirst = """
            policy: p
            waves:
              - {name: pilot, select: {percent: 5}, bake: soon}
              - {name: canary, select: {}}
              - {name: rest, select: {remaining: true}}
            """
        let again = diagnostics(of: badBakeFirst, as: .policy)
        #expect(again.contains { $0.location.line == 3 && $0.message.contains("duration") }, "\(describe(again))")
        #expect(again.contains { $0.location.line == 4 && $0.message.contains("empty selector") }, "\(describe(again))")

        let alone = diagnostics(of: "policy: p\nwaves:\n  - {name: canary, select: {}}\n", as: .policy)
        #expect(alone.count == 1 && alone.first?.message.contains("empty selector") == true)
    }

    @Test("warnings do not make a definition invalid")
    func warningsOnly() throws {
        // A change whose id differs from its file name is a warning of `validate`, not an error.
        let files = [
            "fleets/f/fleet.yaml":
                "fleet: f\nshards:\n  - {name: s, url: \"embedded:s\"}\ntenants:\n  - {id: a, shard: s, schema: a}\n",
            "fleets/f/changes/0001_a.yaml": "change: 0001_b\nphases:\n  - {name: p, up: SELECT 1}\n",
        ]
        let report = Workspace(source: InMemorySource(files)).validate([])
        #expect(!report.hasErrors, "\(describe(report.diagnostics))")
        #expect(report.diagnostics.count == 1)
        #expect(report.diagnostics.first?.severity == .warning)
        #expect(report.diagnostics.first?.message.contains("differs from its file name '0001_a'") == true)
    }

    @Test("a policy's warnings reach validate, at their place")
    func policyWarnings() throws {
        let policy = """
            policy: p
            waves:
              - {name: all, select: {remaining: true}}
            checks:
              - name: c
                sql: SELECT 1
                scope: tenant
                max_regression: 20%
            """
        let report = Workspace(source: InMemorySource(["policies/p.yaml": policy])).validate([])
        #expect(!report.hasErrors, "\(describe(report.diagnostics))")
        let warning = try #require(report.diagnostics.first, "no warning")
        #expect(warning.severity == .warning && warning.location.line == 8, "\(describe(report.diagnostics))")
        #expect(warning.message.contains("max_regression has no effect without compare: cohort"))
    }
}

@Suite("${ENV} interpolation")
struct InterpolationTests {
    static let fleet = """
        fleet: demo
        control: ${CONTROL:-postgres://ctl@localhost/flotilla}
        shards:
          - name: pg-a
            url: ${PG_A:-embedded:a}
          - name: pg-b
            url: postgres://${PGUSER}@${PGHOST:-localhost}:5432/tenants
        tenants:
          - {id: acme, shard: pg-a, schema: tenant_acme, labels: {owner: "${OWNER:-nobody}", team: "${TEAM:-}"}}
        """

    @Test("unset variables take their default, or empty with ${NAME:-}")
    func defaults() throws {
        let fleet = try Fleet.parse(Self.fleet, file: "fleet.yaml", environment: ["PGUSER": "app"])
        #expect(fleet.control == "postgres://ctl@localhost/flotilla")
        #expect(fleet.shards.map(\.url) == ["embedded:a", "postgres://app@localhost:5432/tenants"])
        #expect(fleet.tenants[0].labels["owner"] == "nobody")
        #expect(fleet.tenants[0].labels["team"] == "")
    }

    @Test("an unset ${NAME} is an error naming it, at its place")
    func unset() {
        let found = errors(of: Self.fleet, as: .fleet)
        #expect(found.count == 1, "\(describe(found))")
        // "    url: postgres://" puts the '$' of ${PGUSER} at col 21 of line 7.
        #expect(found.first?.location.line == 7 && found.first?.location.column == 21)
        #expect(found.first?.message.contains("environment variable 'PGUSER' is not set") == true)
    }

    @Test("set variables replace the reference; an empty one takes the default of :-")
    func values() throws {
        let environment = [
            "CONTROL": "postgres://ctl@c/flotilla", "PG_A": "postgres://a@a/t", "PGUSER": "u", "PGHOST": "",
            "OWNER": "dba",
        ]
        let fleet = try Fleet.parse(Self.fleet, file: "fleet.yaml", environment: environment)
        #expect(fleet.control == "postgres://ctl@c/flotilla")
        #expect(fleet.shards.map(\.url) == ["postgres://a@a/t", "postgres://u@localhost:5432/tenants"])
        #expect(fleet.tenants[0].labels["owner"] == "dba")
    }

    @Test("a required string that is empty after substitution is an error at its place")
    func emptyAfterSubstitution() {
        let yaml =
            "fleet: demo\nshards:\n  - name: pg-a\n    url: ${NOWHERE:-}\ntenants:\n  - {id: a, shard: pg-a, schema: s}\n"
        let found = errors(of: yaml, as: .fleet)
        #expect(found.count == 1, "\(describe(found))")
        #expect(found.first?.location.line == 4 && found.first?.location.column == 10)
        #expect(found.first?.message.contains("empty after ${…} substitution") == true)
    }

    @Test(
        "interpolate(_:environment:)",
        arguments: [
            ("plain", "plain"),
            ("${A}", "1"),
            ("x${A}y${B}z", "x1y2z"),
            ("${UNSET:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${A:-d}", "1"),
            ("${UNSET:-a:b}", "a:b"),
            ("${UNSET:-}", ""),
            ("$$A", "$A"),
            ("$${A}", "${A}"),
            ("cost $5", "cost $5"),
            ("end$", "end$"),
        ])
    func interpolation(_ input: String, _ expected: String) {
        let result = interpolate(input, environment: ["A": "1", "B": "2", "EMPTY": ""])
        #expect((try? result.get()) == expected)
    }

    @Test(
        "interpolate failures and their offsets",
        arguments: [
            ("abc${A", 3, "unterminated"),
            ("${A}${", 4, "unterminated"),
            ("${}", 0, "invalid variable name ''"),
            ("x${A-B}", 1, "invalid variable name 'A-B'"),
            ("${9A}", 0, "invalid variable name '9A'"),
            ("${UNSET}", 0, "environment variable 'UNSET' is not set"),
            ("a=${A} b=${B}", 9, "environment variable 'B' is not set"),
        ])
    func interpolationFailure(_ input: String, _ offset: Int, _ fragment: String) {
        switch interpolate(input, environment: ["A": "1"]) {
        case .success(let text): Issue.record("expected a failure, got '\(text)'")
        case .failure(let failure):
            #expect(failure.offset == offset)
            #expect(failure.message.contains(fragment), "\(failure.message)")
        }
    }

    @Test("changes and policies are not interpolated")
    func onlyFleets() throws {
        let change = try Change.parse("change: c\nphases:\n  - {name: p, up: \"SELECT '${X}'\"}\n", file: "c.yaml")
        #expect(change.phases[0].up?.sql == "SELECT '${X}'")
    }
}

@Suite("YAML features and places")
struct YAMLFeatureTests {
    @Test("anchors and aliases work like writing the value out")
    func anchors() throws {
        let yaml = """
            fleet: demo
            shards:
              - {name: pg-a, url: "embedded:a"}
            tenants:
              - {id: a, shard: pg-a, schema: a, labels: &free {tier: free, region: eu}}
              - {id: b, shard: pg-a, schema: b, labels: *free}
            """
        let found = diagnostics(of: yaml, as: .fleet)
        #expect(found.isEmpty, "\(describe(found))")
        let fleet = try? Fleet.parse(yaml, file: "f.yaml", environment: [:])
        #expect(fleet?.tenants.map(\.labels) == [["tier": "free", "region": "eu"], ["tier": "free", "region": "eu"]])
    }

    @Test("comments, quoting styles and document markers")
    func styles() throws {
        let yaml = """
            # a comment
            ---
            fleet: 'demo'   # trailing comment
            shards:
              - name: "pg-a"
                url: >-
                  embedded:a
            tenants:
              - id: acme
                shard: pg-a
                schema: tenant_acme
            ...
            """
        let fleet = try Fleet.parse(yaml, file: "f.yaml", environment: [:])
        #expect(fleet.name == "demo" && fleet.shards[0].url == "embedded:a" && fleet.tenants.count == 1)
        #expect(fleet.location.line == 3 && fleet.location.column == 1)
        #expect(fleet.shards[0].location.line == 5 && fleet.shards[0].location.column == 5)
        #expect(fleet.tenants[0].location.line == 9)
    }

    @Test("where SQL starts in the file, for lint findings")
    func sqlPlaces() throws {
        let yaml = """
            change: 0001_x
            phases:
              - name: expand
                up: |

                  ALTER TABLE users
                    ADD COLUMN x int;
                down: ALTER TABLE users DROP COLUMN x;
                verify: "SELECT true"
            """
        let change = try Change.parse(yaml, file: "c.yaml")
        let phase = change.phases[0]
        // Block scalar (`|` on line 4): YAML keeps the leading blank line, so SQL line 1 is file line 5 (blank) and
        // SQL line 2, "ALTER TABLE users", is file line 6; columns are shifted by the block's indent (6).
        let up = try #require(phase.up)
        #expect(up.sql == "\nALTER TABLE users\n  ADD COLUMN x int;\n")
        #expect(up.lineOffset == 4)
        #expect(up.columnOffset == 6)
        // Plain scalar at 8:11: line 1 of the SQL is file line 8; column 1 is file column 11.
        let down = try #require(phase.down)
        #expect(down.lineOffset == 7 && down.columnOffset == 10)
        // Quoted scalar at 9:13: the text starts one column after the quote.
        let verify = try #require(phase.verify)
        #expect(verify.lineOffset == 8 && verify.columnOffset == 13)
    }

    @Test("a generator width placeholder without digits is an error, not a crash")
    func emptyWidth() async {
        // `{n:}`: GeneratorPattern.problem indexes `split(":")[1]` of "n:", which has one element.
        await #expect(processExitsWith: .success) {
            let yaml =
                "fleet: f\nshards:\n  - {name: s, url: \"embedded:s\"}\ntenants:\n  - generate: {count: 2, id: \"t{n:}\", shard: s, schema: \"x_{id}\"}\n"
            _ = try? Fleet.parse(yaml, file: "f.yaml", environment: [:])
        }
    }

    @Test("generator patterns: widths, start, round-robin shards, database-per-tenant")
    func generator() throws {
        let yaml = """
            fleet: f
            shards:
              - {name: a, url: "embedded:a"}
              - {name: b, url: "embedded:b"}
            tenants:
              - generate: {count: 5, start: 8, id: "c{n:03}", shard: [b, a], database: "db_{id}_{n}", labels: {tier: free}}
              - generate: {count: 2, id: "x{n}", shard: a, schema: "s{n:1}"}
            """
        let fleet = try Fleet.parse(yaml, file: "f.yaml", environment: [:])
        #expect(fleet.tenants.map(\.id) == ["c008", "c009", "c010", "c011", "c012", "x1", "x2"])
        #expect(fleet.tenants.map(\.shard) == ["b", "a", "b", "a", "b", "a", "a"])
        #expect(fleet.tenants[0].placement == .database("db_c008_8"))
        #expect(fleet.tenants[5].placement == .schema("s1"))
        #expect(fleet.tenants[0].labels == ["tier": "free"] && fleet.tenants[5].labels.isEmpty)
    }
}
