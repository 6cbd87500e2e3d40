import FlotillaModel
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    @Test(
        "known vectors (FIPS 180-4 examples and multi-block messages)",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
            (
                "The quick brown fox jumps over the lazy dog",
                "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
            ),
            (String(repeating: "a", count: 1000), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
        ])
    func vectors(_ input: String, _ expected: String) {
        #expect(SHA256.hex(of: input) == expected)
    }

    @Test("lengths around the padding boundary give 32-byte digests and differ")
    func paddingBoundaries() {
        var seen = Set<String>()
        for length in 50...130 {
            let hex = SHA256.hex(of: String(repeating: "x", count: length))
            #expect(hex.count == 64 && hex.allSatisfy { "0123456789abcdef".contains($0) })
            seen.insert(hex)
        }
        #expect(seen.count == 81)
        #expect(SHA256.digest(Array("abc".utf8)).count == 32)
    }

    @Test("UTF-8 text is hashed as its bytes")
    func utf8() {
        // printf 'é' | sha256sum
        #expect(SHA256.hex(of: "é") == "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c")
        // Equal as Swift strings, different bytes.
        #expect(SHA256.hex(of: "\u{e9}") != SHA256.hex(of: "e\u{301}"))
    }
}

@Suite("Durations")
struct DurationTests {
    @Test(
        "parseDuration accepts",
        arguments: [
            ("0", 0), ("0s", 0), ("0ms", 0), ("500ms", 500), ("1s", 1000), ("30s", 30_000), ("5m", 300_000),
            ("1h", 3_600_000), ("1m30s", 90_000), ("1h2m3s4ms", 3_723_004), ("1.5s", 1500), ("0.5m", 30_000),
            (" 2s ", 2000), ("90s", 90_000), ("2h30m", 9_000_000), ("1.5ms", 2),
        ] as [(String, Int64)])
    func accepts(_ text: String, _ milliseconds: Int64) {
        let duration = parseDuration(text)
        #expect(duration == .milliseconds(milliseconds), "\(text)")
        #expect(duration?.milliseconds == milliseconds)
    }

    @Test(
        "parseDuration rejects",
        arguments: [
            "", " ", "s", "ms", "5", "10", "5x", "30 seconds", "1 s", "-5s", "+5s", "5S", "1d", "1w", "1.2.3s", "1m30",
            "abc", "5sec", "1e3s", "∞s", "٣s", "1h-2m", ".", "1..5s",
        ])
    func rejects(_ text: String) {
        #expect(parseDuration(text) == nil, "'\(text)' parsed as \(String(describing: parseDuration(text)))")
    }

    @Test(
        "flotillaDescription",
        arguments: [
            (0, "0s"), (1, "1ms"), (500, "500ms"), (1000, "1s"), (1500, "1s500ms"), (60_000, "1m"), (90_000, "1m30s"),
            (3_600_000, "1h"), (3_723_004, "1h2m3s4ms"), (86_400_000, "24h"),
        ] as [(Int64, String)])
    func description(_ milliseconds: Int64, _ text: String) {
        #expect(Duration.milliseconds(milliseconds).flotillaDescription == text)
    }

    @Test("flotillaDescription round-trips through parseDuration")
    func roundTrip() {
        var value: Int64 = 0
        var generator = TestRandom(seed: 7)
        for _ in 0..<2000 {
            let duration = Duration.milliseconds(value)
            #expect(parseDuration(duration.flotillaDescription) == duration, "\(value)ms")
            value = Int64(generator.next(below: 400_000_000))
        }
        for text in ["1m30s", "2h", "45s", "250ms", "1h1ms"] {
            #expect(parseDuration(text)?.flotillaDescription == text)
        }
    }

    @Test("Duration.milliseconds and seconds")
    func accessors() {
        #expect(Duration.seconds(2).milliseconds == 2000)
        #expect(Duration.milliseconds(1500).seconds == 1.5)
        #expect(Duration.microseconds(1999).milliseconds == 1)
    }

    @Test("a huge duration is rejected, not a crash")
    func hugeDuration() async {
        // 10^20 hours does not fit in Int64 milliseconds; `Int64(Double)` traps in Duration+Parsing.swift.
        await #expect(processExitsWith: .success) {
            _ = parseDuration("99999999999999999999h")
        }
    }
}

@Suite("Names, identifiers, suggestions")
struct NameTests {
    @Test(
        "identifierProblem",
        arguments: [
            ("tenant_acme", nil), ("_x", nil), ("a$b", nil), ("A1", nil),
            ("", "is empty"), ("1bad", "must start with a letter or _"), ("$x", "must start with a letter or _"),
            ("a-b", "contains '-'"), ("a b", "contains ' '"), ("é", "must start with a letter or _"),
            ("aé", "contains 'é'"),
            ("pg_x", "starts with pg_"), ("PG_X", "starts with pg_"), ("flotilla", "is reserved"),
            (String(repeating: "a", count: 64), "63-byte limit"),
        ] as [(String, String?)])
    func identifiers(_ name: String, _ problem: String?) {
        let found = identifierProblem(name)
        if let problem {
            #expect(found?.contains(problem) == true, "\(name): \(found ?? "accepted")")
        } else {
            #expect(found == nil, "\(name): \(found ?? "")")
        }
        #expect(identifierProblem(String(repeating: "a", count: 63)) == nil)
        #expect(identifierProblem("pg_x", reserved: false) == nil)
    }

    @Test(
        "nameProblem",
        arguments: [
            ("pg-a", nil), ("0001_users", nil), ("a.b", nil), ("", "is empty"), ("a b", "contains ' '"),
            ("a/b", "contains '/'"), (String(repeating: "n", count: 101), "longer than 100"),
        ] as [(String, String?)])
    func names(_ name: String, _ problem: String?) {
        let found = nameProblem(name)
        if let problem {
            #expect(found?.contains(problem) == true, "\(name): \(found ?? "accepted")")
        } else {
            #expect(found == nil)
        }
    }

    @Test("closestMatch")
    func suggestions() {
        #expect(closestMatch(to: "max_paralel", in: ["name", "url", "max_parallel"]) == "max_parallel")
        #expect(closestMatch(to: "STANDRD", in: ["fast", "standard"]) == "standard")
        #expect(closestMatch(to: "zzz", in: ["fast", "standard"]) == nil)
        #expect(closestMatch(to: "x", in: [String]()) == nil)
    }

    @Test("redactedURL hides passwords only")
    func redaction() {
        #expect(redactedURL("postgres://app:s3cret@db:5432/t") == "postgres://app:***@db:5432/t")
        #expect(redactedURL("postgres://app@db/t") == "postgres://app@db/t")
        #expect(redactedURL("embedded:x") == "embedded:x")
    }

    @Test("a bad URL's message does not show its password")
    func noPasswordInMessages() {
        let yaml =
            "fleet: f\nshards:\n  - {name: s, url: \"mysql://u:hunter2@db/x\"}\ntenants:\n  - {id: a, shard: s, schema: a}\n"
        let found = errors(of: yaml, as: .fleet)
        #expect(found.count == 1)
        #expect(found.allSatisfy { !$0.message.contains("hunter2") && !$0.description.contains("hunter2") })
        #expect(found.first?.message.contains("mysql://u:***@db/x") == true)
    }
}

@Suite("Careful YAML that must still be accepted")
struct AcceptedInputTests {
    @Test("redactedURL also hides a password parameter and a password written without a host")
    func moreRedaction() {
        #expect(
            redactedURL("postgres://app@db/t?password=s3cret&sslmode=require")
                == "postgres://app@db/t?password=***&sslmode=require")
        #expect(redactedURL("postgres://app:p@ss@db/t") == "postgres://app:***@db/t")
        #expect(redactedURL("postgres://app:s3cret/t") == "postgres://app:***/t")
        #expect(redactedURL("postgres://db:5432/t") == "postgres://db:5432/t")
    }

    @Test(
        "no URL problem shows a password",
        arguments: [
            "postgres://app:hunter2@db:99999/t", "postgres://app:hunter2@db/t?sslmode=nope",
            "postgres://app:hunter2@db", "postgres://app@db/t?password=hunter2&pool=1", "postgres://app:hunter2/t",
            "postgresql://app:hunter2@/t", "postgres://app:hunter2/x@db/t", "postgres://app:hunter2?x@db/t",
        ])
    func noPasswordInURLProblems(_ url: String) {
        let yaml = "fleet: f\nshards:\n  - {name: s, url: \"\(url)\"}\ntenants:\n  - {id: a, shard: s, schema: a}\n"
        let found = errors(of: yaml, as: .fleet)
        #expect(found.count == 1, "\(describe(found))")
        #expect(found.allSatisfy { !$0.description.contains("hunter2") }, "\(describe(found))")
    }

    @Test(
        "URLs that are fine",
        arguments: [
            "postgres://app@db/t", "postgresql://app:pw@db:6543/t?sslmode=verify-full&application_name=x",
            "postgres://app@[::1]:5433/t", "postgres:///t?host=%2Fvar%2Frun%2Fpostgresql", "postgres://app@db?dbname=t",
            "POSTGRES://app@db/t", "postgres://app@db:/t", "embedded:demo_a",
        ])
    func goodURLs(_ url: String) {
        let yaml = "fleet: f\nshards:\n  - {name: s, url: \"\(url)\"}\ntenants:\n  - {id: a, shard: s, schema: a}\n"
        #expect(errors(of: yaml, as: .fleet).isEmpty, "\(describe(errors(of: yaml, as: .fleet)))")
    }

    @Test("SQL that is one expression or one query, however it is written, is accepted")
    func goodSQL() throws {
        let yaml = """
            change: 0001_x
            phases:
              - name: fill
                up: |
                  -- a comment before the statement is fine
                  ALTER TABLE users ADD COLUMN n int; /* and after */
                verify: SELECT count(*) = 0 FROM users WHERE n IS NULL;
                backfill:
                  table: users
                  set: "n = CASE WHEN a IS DISTINCT FROM b THEN (length(E'it\\\\'s') + 1) ELSE $$;)$$::text::int END"
                  where: |
                    n IS NULL -- only the new ones
                    AND "odd ) name" <> ';'
                  revert: n = NULL
            """
        let change = try Change.parse(yaml, file: "c.yaml")
        #expect(change.phases[0].backfill?.whereClause?.contains("odd ) name") == true)
    }

    @Test("a check's sql may end in ';', as the engine strips it")
    func checkWithSemicolon() throws {
        let yaml = """
            policy: p
            waves:
              - {name: a, select: {remaining: true}}
            checks:
              - name: c
                sql: |
                  SELECT count(*) < 5 FROM jobs WHERE failed;
            """
        _ = try Policy.parse(yaml, file: "p.yaml")
    }

    @Test("a generator and listed tenants up to the limits are accepted")
    func atTheLimit() throws {
        let yaml = """
            fleet: f
            shards:
              - {name: s, url: "embedded:s"}
            tenants:
              - generate: {count: 100000, id: "t{n}", shard: s, schema: "tenant_{id}"}
            """
        let fleet = try Fleet.parse(yaml, file: "f.yaml", environment: [:])
        #expect(fleet.tenants.count == 100_000)
    }
}

/// A tiny seeded generator for tests (SplitMix64), so no test depends on unseeded randomness.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
