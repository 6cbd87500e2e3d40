import Testing

@testable import FlotillaModel

/// A scalar is read as the type the schema expects at its place, never guessed from its look: `yes` is a string
/// where a string is expected and a boolean only where a boolean is, `007` stays `007`, a quoted number is text.
@Suite("YAML scalars are read as the schema's types")
struct ScalarResolutionTests {
    static let shards = """
        fleet: f
        shards:
          - {name: s, url: "embedded:s", max_parallel: 08}
        tenants:

        """

    @Test("strings keep the text written: numbers, yes/no/on/off, null in quotes, leading zeros")
    func stringsStayText() throws {
        let yaml =
            Self.shards + """
                  - {id: "123", shard: s, schema: "null", labels: {tier: yes, on: off, n: 007, v: 1.50, q: "true"}}
                  - {id: 0042, shard: s, schema: 'no', labels: {empty: , tilde: "~", y: Y, x: 0x1F}}
                  - id: on
                    shard: s
                    database: |-
                      TRUE
                """
        let fleet = try Fleet.parse(yaml, file: "f.yaml", environment: [:])
        #expect(fleet.tenants.map(\.id) == ["123", "0042", "on"])
        #expect(fleet.tenants.map(\.placement) == [.schema("null"), .schema("no"), .database("TRUE")])
        #expect(fleet.tenants[0].labels == ["tier": "yes", "on": "off", "n": "007", "v": "1.50", "q": "true"])
        #expect(fleet.tenants[1].labels == ["empty": "", "tilde": "~", "y": "Y", "x": "0x1F"])
        #expect(fleet.shards[0].maxParallel == 8)
    }

    @Test("booleans: true/false, yes/no and on/off in any case, written plain; quoted is a string")
    func booleans() throws {
        for (written, value) in [
            ("true", true), ("True", true), ("YES", true), ("on", true), ("Off", false), ("no", false),
        ] {
            let yaml = """
                change: 0001_x
                phases:
                  - {name: expand, up: "SELECT 1", down: "SELECT 2", reversible: \(written)}
                """
            let change = try Change.parse(yaml, file: "c.yaml")
            #expect(change.phases[0].reversible == value, "reversible: \(written)")
        }
        for written in ["\"true\"", "'yes'", "1", "y", "~"] {
            let yaml = """
                policy: p
                waves:
                  - {name: rest, select: {remaining: \(written)}}
                """
            let found = errors(of: yaml, as: .policy)
            #expect(
                found.contains { $0.message.hasPrefix("expected true or false") && $0.location.column == 38 },
                "remaining: \(written): \(describe(found))")
        }
    }

    @Test("whole numbers: plain digits only; quoted, hexadecimal, underscores and fractions are refused")
    func numbers() {
        for written in ["\"4\"", "0x10", "1_000", "2.0", "four", "null"] {
            let yaml = Self.shards.replacingOccurrences(of: "max_parallel: 08", with: "max_parallel: \(written)")
            let found = errors(of: yaml + "  - {id: a, shard: s, schema: a}\n", as: .fleet)
            #expect(
                found.map(\.message).contains { $0.hasPrefix("expected a whole number") }
                    && found.allSatisfy { $0.location.line == 3 && $0.location.column == 48 },
                "max_parallel: \(written): \(describe(found))")
        }
    }

    @Test("null where a string is needed is an error at its place; an empty quoted string is not null")
    func nulls() {
        for written in ["null", "~", "NULL", ""] {
            let found = errors(of: Self.shards + "  - {id: a, shard: s, schema: \(written)}\n", as: .fleet)
            #expect(
                found.contains { $0.message == "expected a string, found null" && $0.location.line == 5 },
                "schema: \(written): \(describe(found))")
        }
        let found = errors(of: Self.shards + "  - {id: a, shard: s, schema: \"\"}\n", as: .fleet)
        #expect(found.count == 1 && found[0].message.hasPrefix("expected a non-empty string"), "\(describe(found))")
    }

    @Test("durations are read from plain or quoted text")
    func durations() throws {
        let yaml = """
            policy: p
            waves:
              - {name: a, select: {percent: 10}, bake: 30s}
              - {name: b, select: {remaining: true}, bake: "1m"}
            lock_timeout: '250ms'
            """
        let policy = try Policy.parse(yaml, file: "p.yaml")
        #expect(policy.waves.map(\.bake) == [.seconds(30), .seconds(60)])
        #expect(policy.lockTimeout == .milliseconds(250))
    }

    @Test("a key repeated in a long mapping is reported at the repeat, naming the first")
    func duplicateInLongMapping() {
        let labels = (1...20).map { "k\($0): v" } + ["k3: again"]
        let found = errors(
            of: Self.shards + "  - {id: a, shard: s, schema: a, labels: {\(labels.joined(separator: ", "))}}\n",
            as: .fleet)
        #expect(found.count == 1, "\(describe(found))")
        #expect(found.first?.message == "duplicate key 'k3' in a mapping; it was first written at line 5, column 57")
        #expect(found.first?.location.line == 5 && found.first?.location.column == 194)
    }
}

@Suite("Reading a file's kind")
struct FileKindTests {
    @Test("lines come out as split(separator: \"\\n\") gives them, \\r\\n being one character")
    func lines() {
        let texts = [
            "", "\n", "a", "a\n", "\na\n\nb", "fleet: x\r\nshards:\r\n", "# c\r\nfleet: x\n", "a\r\n\r\nb\n\rc\r",
            "\r\n\n\r\r\n", "é\n\u{301}x\ny",
        ]
        for text in texts {
            #expect(Array(Lines(text)) == text.split(separator: "\n"), "\(text.debugDescription)")
        }
    }

    @Test("a fleet of many tenants is known by its first key")
    func kindOfLargeFleet() {
        let tenants = (1...1000).map { "  - {id: t\($0), shard: s, schema: t\($0)}" }
        let text = (["# fleet", "fleet: f", "shards:", "  - {name: s, url: \"embedded:s\"}", "tenants:"] + tenants)
            .joined(separator: "\n")
        let workspace = Workspace(source: InMemorySource([:]))
        #expect(workspace.kind(of: text, file: "f.yaml") == "fleet")
        #expect(workspace.kind(of: "# c\r\npolicy: p\r\n", file: "p.yaml") == nil)
        #expect(workspace.kind(of: "\n---\npolicy: p\n", file: "p.yaml") == "policy")
    }
}

@Suite("Tenant ids and placements")
struct TenantTableTests {
    @Test("a tenant refused for its placement does not hold its id; the first of a repeated id is kept")
    func refusedTenantsLeaveNoTrace() {
        let yaml = """
            fleet: f
            shards:
              - {name: s, url: "embedded:s"}
            tenants:
              - {id: a, shard: s, schema: p}
              - {id: b, shard: s, schema: p}
              - {id: b, shard: s, schema: q}
              - {id: a, shard: s, schema: r}
              - {id: c, shard: s, schema: q}
            """
        let found = errors(of: yaml, as: .fleet)
        #expect(
            found.map { "\($0.location.line): \($0.message)" } == [
                "6: tenant 'b' uses schema p on shard 's', which tenant 'a' already uses",
                "8: duplicate tenant id 'a' (first defined at line 5)",
                "9: tenant 'c' uses schema q on shard 's', which tenant 'b' already uses",
            ], "\(describe(found))")
    }
}

@Suite("UTF-8 checks agree")
struct UTF8CheckTests {
    @Test("the standard library's UTF-8 check and the byte walk that places errors accept the same bytes")
    func sameVerdict() {
        var samples: [[UInt8]] = [
            [], [0x41], [0xC2, 0x80], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0xA0, 0x80],
            [0xED, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xEF, 0xBF, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF],
            [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
            [0xFF], [0x80], [0xE2, 0x82], [0x61, 0xE2, 0x82, 0xAC, 0x0A, 0xF0, 0x9F, 0x9A, 0xA2],
        ]
        let alphabet: [UInt8] = [
            0x00, 0x0A, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0,
            0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF,
        ]
        var random = TestRandom(seed: 8)
        for _ in 0..<20_000 {
            samples.append((0..<random.next(below: 7)).map { _ in alphabet[random.next(below: alphabet.count)] })
        }
        for bytes in samples {
            let valid = String(validating: bytes, as: UTF8.self) != nil
            let walked = DefinitionFile.firstInvalidByte(in: bytes[...], file: "f") == nil
            #expect(valid == walked, "\(bytes.map { String($0, radix: 16) })")
        }
    }
}
