import FlotillaModel
import Testing

/// A `pattern:` that cannot be expanded, and the diagnostic it must produce: line:col (1-based) and fragments.
struct BadPattern: Sendable, CustomTestStringConvertible {
    var name: String
    var lines: [String]
    var line: Int
    var column: Int
    var fragments: [String]

    var testDescription: String { name }
}

private func bad(_ name: String, at line: Int, _ column: Int, _ fragments: [String], _ lines: [String]) -> BadPattern {
    BadPattern(name: name, lines: lines, line: line, column: column, fragments: fragments)
}

let badPatterns: [BadPattern] = [
    bad(
        "a pattern name without parameters", at: 2, 10,
        ["pattern 'add-index' needs its parameters", "pattern: {add-index: {table: …, columns: …}}"],
        ["change: 0001_x", "pattern: add-index"]),
    bad(
        "an unknown pattern, with a suggestion", at: 3, 3,
        ["unknown pattern 'rename-colum'", "did you mean 'rename-column'?", "patterns: add-column"],
        ["change: 0001_x", "pattern:", "  rename-colum: {table: users, column: a, to: b}"]),
    bad(
        "two patterns in one change", at: 3, 3, ["expected one pattern", "found 2 keys"],
        [
            "change: 0001_x", "pattern:", "  add-index: {table: users, columns: a}",
            "  drop-column: {table: users, column: a}",
        ]),
    bad(
        "both phases and a pattern", at: 3, 3, ["either 'phases:' or 'pattern:', not both"],
        ["change: 0001_x", "pattern:", "  add-index: {table: users, columns: a}", "phases: [{name: p, up: SELECT 1}]"]),
    bad(
        "a missing parameter", at: 3, 18, ["missing required key 'to' in rename-column parameters"],
        ["change: 0001_x", "pattern:", "  rename-column: {table: users, column: a}"]),  // "{" at col 18
    bad(
        "an unknown parameter, with a suggestion", at: 3, 42,
        ["unknown key 'colum' in drop-column parameters", "did you mean 'column'?", "expected one of: table, column"],
        // "  drop-column: {" 1-16, "table: users, " 17-30, "column: a, " 31-41, "colum" at 42
        ["change: 0001_x", "pattern:", "  drop-column: {table: users, column: a, colum: b}"]),
    bad(
        "a table name that is not a name", at: 3, 24, ["table 'users; DROP' contains ';'"],
        ["change: 0001_x", "pattern:", "  drop-column: {table: \"users; DROP\", column: a}"]),  // quote at col 24
    bad(
        "a new name PostgreSQL reserves", at: 3, 52, ["to 'pg_phone' starts with pg_"],
        // "  rename-column: {" 1-18, "table: users, " 19-32, "column: phone, " 33-47, "to: " 48-51 → 52
        ["change: 0001_x", "pattern:", "  rename-column: {table: users, column: phone, to: pg_phone}"]),
    bad(
        "the new name is the old one", at: 3, 52, ["to 'phone' is the same name as 'phone'"],
        ["change: 0001_x", "pattern:", "  rename-column: {table: users, column: phone, to: phone}"]),
    bad(
        "an expression that ends the statement", at: 4, 12,
        ["using expression 'a::int; DROP TABLE users' contains ';'"],
        [
            "change: 0001_x", "pattern:", "  change-type: {table: users, column: a, type: int,",
            "    using: \"a::int; DROP TABLE users\"}",  // quote at col 12
        ]),
    bad(
        "an expression with a comment", at: 3, 50, ["check expression 'a > 0 -- x' contains a comment"],
        // "  add-constraint: {" 1-19, "table: users, " 20-33, "name: n, " 34-42, "check: " 43-49, quote at 50
        ["change: 0001_x", "pattern:", "  add-constraint: {table: users, name: n, check: \"a > 0 -- x\"}"]),
    bad(
        "a dollar quote in an expression", at: 3, 50,
        ["check expression '$$ x $$' contains '$'"],
        ["change: 0001_x", "pattern:", "  add-constraint: {table: users, name: n, check: \"$$ x $$\"}"]),
    bad(
        "unbalanced parentheses", at: 3, 57, ["default expression 'f(1' has a '(' without its ')'"],
        // "  add-column: {" 1-15, "table: t, " 16-25, "column: c, " 26-36, "type: int, " 37-47, "default: " 48-56 → 57
        ["change: 0001_x", "pattern:", "  add-column: {table: t, column: c, type: int, default: \"f(1\"}"]),
    bad(
        "a type that is not a type", at: 3, 48, ["type 'int; DROP' contains ';'"],
        // the quote at col 48
        ["change: 0001_x", "pattern:", "  change-type: {table: users, column: a, type: \"int; DROP\"}"]),
    bad(
        "NOT NULL with nothing to fill the rows", at: 3, 15,
        ["a NOT NULL column needs 'default:' or 'backfill:'"],
        // "{" at col 15
        ["change: 0001_x", "pattern:", "  add-column: {table: t, column: c, type: int, not_null: true}"]),
    bad(
        "the alias is NOT NULL too", at: 3, 24, ["a NOT NULL column needs 'default:' or 'backfill:'"],
        ["change: 0001_x", "pattern:", "  add-column-not-null: {table: t, column: c, type: int}"]),  // "{" at col 24
    bad(
        "a bad pause", at: 3, 83, ["expected a duration like 500ms, 30s, 5m or 1h, found '5 ms'"],
        [
            "change: 0001_x", "pattern:",
            "  rename-column: {table: users, column: phone, to: mobile, batch_size: 10, pause: 5 ms}",
        ]),
    bad(
        "an unknown ON DELETE action", at: 3, 84,
        ["expected one of cascade, restrict, set null, set default or no action"],
        [
            "change: 0001_x", "pattern:",
            "  add-foreign-key: {table: orders, columns: user_id, references: users, on_delete: nuke}",
        ]),
    bad(
        "an index without columns", at: 3, 38, ["an index needs at least one column"],
        ["change: 0001_x", "pattern:", "  add-index: {table: users, columns: []}"]),  // "[" at col 38
    bad(
        "a list where the parameters go", at: 3, 14, ["expected add-index parameters (a mapping), found a list"],
        ["change: 0001_x", "pattern:", "  add-index: [users, email]"]),
]

@Suite("Pattern parameters")
struct PatternDecodingTests {
    @Test("a pattern that cannot be expanded is reported at its place", arguments: badPatterns)
    func reported(_ input: BadPattern) {
        let found = diagnostics(of: input.lines.joined(separator: "\n") + "\n", as: .change, file: "c.yaml")
        let match = found.first { diagnostic in
            diagnostic.location.line == input.line && diagnostic.location.column == input.column
                && input.fragments.allSatisfy { diagnostic.message.contains($0) }
        }
        #expect(match != nil, "expected \(input.line):\(input.column) with \(input.fragments); got\n\(describe(found))")
    }

    @Test("a valid pattern change has no diagnostics and no phases: key")
    func valid() {
        let text = """
            change: 0007_phone
            description: phone_number is called phone from now on
            requires: [0001_users]
            pattern:
              rename-column: {table: users, column: phone_number, to: phone, key: id, batch_size: 500, pause: 10ms}
            """
        #expect(diagnostics(of: text, as: .change).isEmpty, "\(describe(diagnostics(of: text, as: .change)))")
    }

    @Test("the block form reads like the flow form")
    func blockForm() throws {
        let flow = try Change.parse(
            "change: 0001_x\npattern:\n  add-index: {table: users, columns: [email], unique: true}\n", file: "c.yaml")
        let block = try Change.parse(
            "change: 0001_x\npattern:\n  add-index:\n    table: users\n    columns:\n      - email\n    unique: true\n",
            file: "c.yaml")
        #expect(flow.phases.map(\.checksum) == block.phases.map(\.checksum))
    }
}
