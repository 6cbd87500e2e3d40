import FlotillaModel
import Testing

/// Files written to hurt the reader rather than to describe a fleet: alias bombs, deep nesting, huge files, bytes
/// that are not text. Each is refused quickly, with an error at its place, through the same `validate` and
/// `load…` calls the command line makes.
@Suite("Hostile input: refused at its place, quickly, without exhausting memory or the stack")
struct HostileInputTests {
    /// The diagnostics `flotilla validate` would print for these files.
    static func validate(_ files: [String: String], raw: [String: [UInt8]] = [:]) -> [Diagnostic] {
        Workspace(source: InMemorySource(files, rawFiles: raw)).validate([]).diagnostics
    }

    /// The error diagnostic at `line:col` whose message holds every fragment, or a failure naming what was found.
    static func expectError(
        _ found: [Diagnostic], file: String, at line: Int, _ column: Int, _ fragments: [String],
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        let place = FlotillaModel.SourceLocation(file: file, line: line, column: column)
        let match = found.first { diagnostic in
            diagnostic.severity == .error && diagnostic.location == place
                && fragments.allSatisfy { diagnostic.message.contains($0) }
        }
        let listed = found.map(\.description).joined(separator: "\n")
        #expect(
            match != nil, "expected \(place): \(fragments.joined(separator: " … ")); found:\n\(listed)",
            sourceLocation: sourceLocation)
    }

    /// The column (1-based, in characters) of the `occurrence`th (1-based) `needle` in `line`.
    static func column(of needle: String, in line: String, occurrence: Int = 1) -> Int {
        var rest = Substring(line)
        var column = 1
        for seen in 1... {
            guard let range = rest.firstRange(of: needle) else { return 0 }
            column += rest.distance(from: rest.startIndex, to: range.lowerBound)
            if seen == occurrence { return column }
            column += needle.count
            rest = rest[range.upperBound...]
        }
        return 0
    }

    // MARK: aliases and nesting

    /// Nine levels of nine aliases each: about 1 KB that stands for some 48 million values once written out.
    static let billionLaughs: [String] = {
        var lines = ["fleet: demo", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...8 {
            let aliases = Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ")
            lines.append("l\(level): &l\(level) [\(aliases)]")
        }
        return lines
    }()

    @Test("an alias bomb is refused at the alias that crosses the budget, in well under a second")
    func aliasBomb() {
        let text = Self.billionLaughs.joined(separator: "\n") + "\n"
        #expect(text.utf8.count < 1_100)
        let clock = ContinuousClock()
        var found: [Diagnostic] = []
        let elapsed = clock.measure { found = Self.validate(["fleets/bomb/fleet.yaml": text]) }
        #expect(elapsed < .milliseconds(500), "took \(elapsed)")
        // Levels 1–4 add 90 + 819 + 7,380 + 66,429 = 74,718 values through aliases; the first *l4 on line 7
        // (level 5) adds 66,430 more and passes the budget of 100,000 plus the file's bytes.
        let line = Self.billionLaughs[6]
        #expect(line.hasPrefix("l5:"))
        Self.expectError(
            found, file: "fleets/bomb/fleet.yaml", at: 7, Self.column(of: "*l4", in: line),
            ["alias *l4 expands the file past", "values"])
        #expect(found.count == 1, "only the bomb is reported: \(found)")
    }

    @Test("aliases in moderation still work: a shared label set on 2,000 tenants")
    func aliasesWithinBudget() throws {
        var lines = ["fleet: demo", "shards:", "  - {name: pg-a, url: \"embedded:a\"}", "tenants:"]
        let labels = (1...20).map { "k\($0): v\($0)" }.joined(separator: ", ")
        lines.append("  - {id: t0, shard: pg-a, schema: s0, labels: &shared {\(labels)}}")
        for index in 1..<2_000 { lines.append("  - {id: t\(index), shard: pg-a, schema: s\(index), labels: *shared}") }
        let workspace = Workspace(source: InMemorySource(["fleets/demo/fleet.yaml": lines.joined(separator: "\n")]))
        let fleet = try workspace.loadFleet("fleets/demo/fleet.yaml")
        #expect(fleet.tenants.count == 2_000)
        #expect(fleet.tenants.allSatisfy { $0.labels.count == 20 })
    }

    @Test("an alias to a name never anchored is an error at the alias")
    func undefinedAlias() {
        let found = Self.validate([
            "policies/p.yaml": "policy: p\nwaves:\n  - {name: a, select: {remaining: true}, bake: *later}\n"
        ])
        // "  - {name: a, select: {remaining: true}, bake: " is 47 characters: the alias starts at column 48.
        Self.expectError(found, file: "policies/p.yaml", at: 3, 48, ["alias *later refers to no anchor &later"])
    }

    @Test("100 nested [ are refused at the first level past the limit")
    func deepFlowNesting() {
        let text = "fleet: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n"
        let found = Self.validate(["fleets/deep/fleet.yaml": text])
        // The top mapping is level 1, the first [ (column 8) level 2, so the 64th [ (column 71) is level 65.
        Self.expectError(found, file: "fleets/deep/fleet.yaml", at: 1, 71, ["nested deeper than 64 levels"])
    }

    @Test("10,000 nested [ are refused quickly, not by a stack overflow")
    func veryDeepFlowNesting() {
        let text = "fleet: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "\n"
        let clock = ContinuousClock()
        var found: [Diagnostic] = []
        let elapsed = clock.measure { found = Self.validate(["fleets/deep/fleet.yaml": text]) }
        #expect(elapsed < .milliseconds(500), "took \(elapsed)")
        // libyaml's scanner reads a thousand brackets ahead and its own limit stops it at the second one.
        Self.expectError(found, file: "fleets/deep/fleet.yaml", at: 1, 9, ["nested deeper than 64 levels"])
        #expect(found.count == 1, "\(found)")
    }

    @Test("deep block nesting is refused the same way")
    func deepBlockNesting() {
        // Each line opens a mapping one level deeper: `k:` at column 1, 2, 3, …
        let lines = (0..<1_000).map { String(repeating: " ", count: $0) + "k:" }
        let found = Self.validate(["fleets/deep/fleet.yaml": lines.joined(separator: "\n") + "\n"])
        // The mapping on line 1 is level 1, so the one opened by line 65's key (column 65) is level 65.
        Self.expectError(found, file: "fleets/deep/fleet.yaml", at: 65, 65, ["nested deeper than 64 levels"])
    }

    @Test("an alias that would carry a deep value past the limit is refused at the alias")
    func deepThroughAlias() {
        // The anchored value is 40 levels deep, used 30 levels down: written out, it would be 70 levels deep.
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        let used = String(repeating: "[", count: 29) + "*d" + String(repeating: "]", count: 29)
        let found = Self.validate(["policies/p.yaml": "policy: p\nd: &d \(deep)\ne: \(used)\n"])
        // "e: " and 29 [ are 32 characters: the alias starts at column 33.
        Self.expectError(found, file: "policies/p.yaml", at: 3, 33, ["alias *d nests the file deeper than 64 levels"])
    }

    // MARK: duplicate keys

    @Test("a duplicate key is reported where the duplicate is, naming the first")
    func duplicateKeyInFlow() {
        let line = "  - {name: pg-a, url: \"embedded:a\", name: pg-b}"
        let found = Self.validate([
            "fleets/demo/fleet.yaml": ["fleet: demo", "shards:", line, "tenants: []"].joined(separator: "\n")
        ])
        #expect(Self.column(of: "name", in: line, occurrence: 2) == 37)
        Self.expectError(
            found, file: "fleets/demo/fleet.yaml", at: 3, 37,
            ["duplicate key 'name' in a mapping", "first written at line 3, column 6"])
    }

    @Test("a duplicate top-level key, several lines later, is reported at its own line")
    func duplicateKeyInBlock() {
        let text = ["change: c", "phases:", "  - {name: p, up: SELECT 1}", "", "change: d"].joined(separator: "\n")
        let found = Self.validate(["fleets/f/changes/c.yaml": text])
        Self.expectError(
            found, file: "fleets/f/changes/c.yaml", at: 5, 1,
            ["duplicate key 'change' in a mapping", "first written at line 1, column 1"])
    }

    // MARK: size

    @Test("a 10 MiB change is refused with its size, before it is parsed")
    func hugeChange() {
        // Not YAML at all past the first line: a parse would fail differently, so the size error proves none ran.
        let text = "change: c\n" + String(repeating: "[", count: 10 * 1024 * 1024 - 10)
        #expect(text.utf8.count == 10 * 1024 * 1024)
        let found = Self.validate(["fleets/f/changes/c.yaml": text])
        Self.expectError(
            found, file: "fleets/f/changes/c.yaml", at: 1, 1,
            ["file is 10.0 MiB (10485760 bytes); Flotilla reads at most 1 MiB for a change"])
        #expect(found.count == 1, "\(found)")
    }

    @Test("the same limit holds when a change or a policy is loaded by name")
    func hugeByReference() throws {
        let big = "policy: p\n# " + String(repeating: "x", count: 2 << 20) + "\n"
        let workspace = Workspace(source: InMemorySource(["policies/p.yaml": big]))
        #expect(throws: DefinitionError.self) { try workspace.loadPolicy("p") }
        do {
            _ = try workspace.loadPolicy("p")
        } catch {
            Self.expectError(
                error.diagnostics, file: "policies/p.yaml", at: 1, 1, ["2.0 MiB", "at most 1 MiB for a policy"])
        }
    }

    @Test("a fleet may be larger than a change: 2 MiB is read")
    func largeFleet() throws {
        let text =
            "fleet: demo\n# " + String(repeating: "x", count: 2 << 20) + "\n"
            + "shards:\n  - {name: pg-a, url: \"embedded:a\"}\ntenants:\n  - {id: a, shard: pg-a, schema: a}\n"
        let fleet = try Workspace(source: InMemorySource(["fleets/demo/fleet.yaml": text])).loadFleet("demo")
        #expect(fleet.tenants.count == 1)
    }

    /// A source that knows its files' sizes and must not be read: the size alone refuses the file.
    struct SizedSource: DefinitionSource {
        struct ReadAnyway: Error {}
        func read(_ path: String) throws -> String { throw ReadAnyway() }
        func bytes(_ path: String) throws -> [UInt8] { throw ReadAnyway() }
        func size(_ path: String) -> Int? { 64 << 20 }
        func isFile(_ path: String) -> Bool { path == "fleets/big/fleet.yaml" }
        func isDirectory(_ path: String) -> Bool { path == "fleets" || path == "fleets/big" }
        func list(_ directory: String) -> [String] { directory == "fleets" ? ["big"] : ["fleet.yaml"] }
    }

    @Test("a file known to be too large is refused unread")
    func refusedUnread() {
        let found = Workspace(source: SizedSource()).validate([]).diagnostics
        Self.expectError(
            found, file: "fleets/big/fleet.yaml", at: 1, 1,
            ["file is 64.0 MiB", "Flotilla reads at most 32 MiB for any definition file"])
    }

    // MARK: encodings

    @Test("a byte that is not UTF-8 is reported at its line and column")
    func notUTF8() {
        // Line 3 is "# é " (four characters, é being two bytes) and then 0xFF: column 5.
        let bytes =
            Array("policy: p\nwaves: []\n# é ".utf8) + [0xFF] + Array("\nparallel: 2\n".utf8)
        let found = Self.validate([:], raw: ["policies/p.yaml": bytes])
        Self.expectError(found, file: "policies/p.yaml", at: 3, 5, ["not UTF-8 text: byte 0xFF at line 3, column 5"])
        #expect(!found.contains { $0.message.contains("NSCocoaErrorDomain") })
    }

    @Test("a UTF-8 sequence cut short is shown by its first byte")
    func truncatedSequence() {
        let bytes = Array("policy: p\nname: ".utf8) + [0xE2, 0x82]
        let found = Self.validate([:], raw: ["policies/p.yaml": bytes])
        Self.expectError(found, file: "policies/p.yaml", at: 2, 7, ["not UTF-8 text: byte 0xE2 at line 2, column 7"])
    }

    @Test("a UTF-8 byte order mark is accepted, and places are counted after it")
    func utf8BOM() throws {
        let text =
            "fleet: demo\nshards:\n  - {name: pg-a, url: \"embedded:a\"}\ntenants:\n  - {id: a, shard: pg-a, schema: a}\n"
        let workspace = Workspace(
            source: InMemorySource([:], rawFiles: ["fleets/demo/fleet.yaml": [0xEF, 0xBB, 0xBF] + Array(text.utf8)]))
        let fleet = try workspace.loadFleet("demo")
        #expect(fleet.tenants.map(\.id) == ["a"])
        #expect(fleet.tenants[0].location.line == 5 && fleet.tenants[0].location.column == 5)
        #expect(workspace.validate([]).diagnostics.isEmpty)
    }

    @Test("UTF-16 is refused with what to do about it", arguments: [[0xFF, 0xFE] as [UInt8], [0xFE, 0xFF]])
    func utf16(_ bom: [UInt8]) {
        let units = Array("policy: p\n".utf16)
        let little = bom == [0xFF, 0xFE]
        let bytes =
            bom
            + units.flatMap { unit in
                little ? [UInt8(unit & 0xFF), UInt8(unit >> 8)] : [UInt8(unit >> 8), UInt8(unit & 0xFF)]
            }
        let found = Self.validate([:], raw: ["policies/p.yaml": bytes])
        Self.expectError(found, file: "policies/p.yaml", at: 1, 1, ["UTF-16 is not supported", "save it as UTF-8"])
    }
}
