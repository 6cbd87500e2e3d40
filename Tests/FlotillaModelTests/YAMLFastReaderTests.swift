import Testing

@testable import FlotillaModel

/// `YAMLFastReader` reads the plain shape of most files without libyaml; whatever it reads must come out exactly as
/// libyaml's path reads it (values, styles, places), and whatever it cannot read is left to libyaml.
@Suite("YAML fast reader agrees with libyaml")
struct YAMLFastReaderTests {
    /// The fast reader's tree, or nil when it leaves the text to libyaml.
    static func fast(_ text: String) -> YAMLNode? {
        Array(text.utf8).withUnsafeBufferPointer { YAMLFastReader.read($0, file: "t.yaml") }
    }

    /// libyaml's tree, or the problems it reports.
    static func slow(_ text: String) -> Result<YAMLNode?, DefinitionError> {
        Result { () throws(DefinitionError) -> YAMLNode? in
            try YAMLComposer.compose(text, file: "t.yaml", fastPath: false)
        }
    }

    /// Checks one text; true when the fast reader read it.
    @discardableResult
    static func check(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Bool {
        guard let tree = fast(text) else { return false }
        switch slow(text) {
        case .success(let expected):
            #expect(expected == tree, "\(text.debugDescription)", sourceLocation: sourceLocation)
        case .failure(let error):
            Issue.record(
                "the fast reader read a text libyaml refuses: \(text.debugDescription): \(error.diagnostics)",
                sourceLocation: sourceLocation)
        }
        return true
    }

    static let fleet = """
        # a fleet
        fleet: bench
        control: "postgres://app@control:5432/flotilla"
        shards:
          - {name: pg-00, url: "postgres://app@db0:5432/tenants", max_parallel: 8}
          - name: pg-01
            url: 'embedded:one'   # a comment
        tenants:
          - {id: acme, shard: pg-00, schema: tenant_acme, labels: {tier: internal}}
          - {id: t000001, shard: pg-01, schema: tenant_t000001, labels: {tier: free, region: eu}}
          - id: globex
            shard: pg-00
            database: globex_db
            labels:
              tier: "paid plan"
              region: us-east-1

          - generate: {count: 10, id: "t{n:04}", shard: [pg-00, pg-01], schema: "tenant_{id}", labels: {}}
        """

    static let policy = """
        policy: bench
        waves:
          - {name: canary, select: {labels: {tier: internal}}, bake: 30s}
          - {name: pilot, select: {percent: 5}, bake: 1m}
          - {name: shard0, select: {shards: [pg-00], count: 1000}}
          - {name: rest, select: {remaining: true}, by: shard, bake: 1m}
        checks:
          - {name: users-readable, sql: "SELECT count(*) >= 0 FROM users"}
          - name: "ratio"
            sql: SELECT avg(x) < 0.5 FROM t WHERE a = 'b' AND c <> 'd#e'
        lock_timeout: 250ms
        """

    @Test("the files it is made for are read, as libyaml reads them")
    func plainFiles() {
        #expect(Self.check(Self.fleet))
        #expect(Self.check(Self.policy))
        #expect(Self.check("a: b\n"))
        #expect(Self.check("- a\n- {b: c}\n- [d, 'e', \"f\"]\n-   g: h\n    i: j\n"))
        #expect(Self.check("a:\n  - b\n  -  c\nd:   e   # f\n# g\n\n"))
        #expect(Self.check("k: v # c\nl: -5\nm: a:b\nn: x#y\no: {p: q:r, s: [t, [u, {}], []]}\n"))
    }

    @Test("a long key is left to libyaml, which takes a key only within 1,024 characters")
    func longKeys() {
        let long = String(repeating: "k", count: 1020)
        #expect(Self.fast("\(long): v\n") == nil)
        #expect(Self.fast("a: {\(long): v}\n") == nil)
        #expect(Self.fast("a: {k\(String(repeating: " ", count: 1020)): v}\n") == nil)
        #expect(Self.check("a: {\(String(repeating: "k", count: 900)): v}\n"))
    }

    @Test("the shapes it leaves to libyaml are left, and libyaml still reads them")
    func leftToLibYAML() throws {
        let texts = [
            "", "# only a comment\n", "---\na: b\n", "a: b\n...\n", "%YAML 1.1\n---\na: b\n", "a: &x b\nc: *x\n",
            "a: !!str b\n", "a: |\n  b\n", "a: >\n  b\n", "a: b\n  c\n", "a: \"b\\n\"\n", "a: 'b''c'\n", "a:\n",
            "a: b\na: c\n", "a:\tb\n", "a: b\r\nc: d\r\n", "a: é\n", "  a: b\n", "a: [b,\n  c]\n", "? a\n: b\n",
            "a:\n- b\n", "- - a\n", "-\n  a\n", "\"a\": b\n", "a: {b}\n", "a: {b: }\n", "a: [b, ]\n", "a: [b: c]\n",
            "{a: b}\n", "a\n", "a: b: c\n", "a: {\"b\":c}\n", "a: b\n  # c\n  d\n",
            "key: value\nother: v\u{7F}\n", "key: value\nother: \tv\n", "key: value\nother: v\u{1}w\n",
            "key: value\nother: caf\u{E9}\n",
        ]
        for text in texts {
            #expect(Self.fast(text) == nil, "\(text.debugDescription)")
        }
        // Still read (or refused) by libyaml as before.
        #expect(try YAMLNode.parse("a: &x b\nc: *x\n", file: "t.yaml")?.value != nil)
    }

    @Test("the check for plain ASCII, eight bytes at a time, agrees with one byte at a time")
    func plainASCII() {
        var random = TestRandom(seed: 21)
        let alphabet: [UInt8] = [0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x41, 0x7E, 0x7F, 0x80, 0xC3, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<random.next(below: 40)).map { _ in
                random.next(below: 4) == 0 ? alphabet[random.next(below: alphabet.count)] : UInt8(ascii: "a")
            }
            let expected = bytes.allSatisfy(YAMLFastReader.isPlainASCII)
            #expect(bytes.withUnsafeBufferPointer(YAMLFastReader.plainASCII) == expected, "\(bytes)")
        }
    }

    @Test("every example file")
    func examples() throws {
        var read = 0
        for path in examplePaths {
            let text = try exampleText(path)
            if Self.check(text) { read += 1 }
        }
        #expect(read > 0)
    }

    @Test("random edits of plain files: whatever the fast reader reads, libyaml reads the same")
    func randomEdits() {
        // Characters that matter to YAML's syntax, and some that do not.
        let alphabet = Array(" \n\n  :-#,{}[]'\"ab1.&*|>?!%@\\~")
        var random = TestRandom(seed: 0x5EED)
        var read = 0
        let seeds = [
            Self.fleet, Self.policy, "a:\n  - b: c\n    d: [e, f]\n  - g\n",
            "- [a, {b: 'c', d: \"e f\"}, []]\n-   - x\n- k: v # c\n  l:\n    - m\n",
        ]
        for seed in seeds {
            let characters = Array(seed)
            for _ in 0..<3000 {
                var edited = characters
                for _ in 0..<(1 + random.next(below: 3)) {
                    let index = random.next(below: edited.count)
                    switch random.next(below: 3) {
                    case 0: edited.remove(at: index)
                    case 1: edited.insert(alphabet[random.next(below: alphabet.count)], at: index)
                    default: edited[index] = alphabet[random.next(below: alphabet.count)]
                    }
                }
                if Self.check(String(edited)) { read += 1 }
            }
        }
        // Most single edits keep a file readable by the fast reader; the comparison above is what is tested.
        #expect(read > 1000)
    }
}
