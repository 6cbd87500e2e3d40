import Testing

@testable import FlotillaLint

@Suite("Column types")
struct ColumnTypeTests {
    static func type(_ text: String) -> ColumnType {
        var cursor = TokenCursor(SQLLexer.tokens(in: text))
        return ColumnType.parse(&cursor)!
    }

    @Test(arguments: [
        ("int", "int4", [Int]()), ("INTEGER", "int4", []), ("bigint", "int8", []), ("serial", "int4", []),
        ("character varying(20)", "varchar", [20]), ("varchar", "varchar", []), ("char", "bpchar", [1]),
        ("numeric(10, 2)", "numeric", [10, 2]), ("decimal", "numeric", []), ("double precision", "float8", []),
        ("timestamp(3) with time zone", "timestamptz", [3]), ("timestamp without time zone", "timestamp", []),
        ("pg_catalog.text", "text", []), ("interval day to second(3)", "interval", [3]),
    ])
    func parsesToCanonicalNames(_ text: String, _ name: String, _ modifiers: [Int]) {
        let parsed = Self.type(text)
        #expect(parsed.name == name)
        #expect(parsed.modifiers == modifiers)
        #expect(parsed.written == text)
    }

    @Test func arraysAndSerials() {
        #expect(Self.type("text[]").isArray)
        #expect(Self.type("int ARRAY").isArray)
        #expect(Self.type("bigserial").isSerial)
        #expect(!Self.type("bigint").isSerial)
    }

    @Test(arguments: [
        ("varchar(10)", "varchar(20)", true), ("varchar(20)", "varchar(10)", false), ("varchar(10)", "text", true),
        ("varchar(10)", "varchar", true), ("text", "varchar", true), ("text", "varchar(10)", false),
        ("varchar", "varchar(10)", false), ("numeric(10,2)", "numeric", true), ("numeric(10,2)", "numeric(12,2)", true),
        ("numeric(10,2)", "numeric(9,2)", false), ("numeric(10,2)", "numeric(10,3)", false),
        ("numeric", "numeric(10,2)", false), ("int", "bigint", false), ("bigint", "int", false),
        ("char(4)", "char(8)", false), ("char(4)", "text", false), ("timestamp(3)", "timestamp", true),
        ("timestamp", "timestamp(3)", false), ("timestamp", "timestamptz", false), ("cidr", "inet", true),
        ("text[]", "text[]", true), ("varchar(10)[]", "varchar(20)[]", false), ("int", "integer", true),
    ])
    func binaryCoercion(_ old: String, _ new: String, _ coercible: Bool) {
        #expect(ColumnType.isBinaryCoercible(from: Self.type(old), to: Self.type(new)) == coercible)
    }

    @Test(arguments: [
        ("false", DefaultExpression.nonVolatile), ("0", .nonVolatile), ("'x'", .nonVolatile), ("now()", .nonVolatile),
        ("CURRENT_TIMESTAMP", .nonVolatile), ("'1'::numeric(10,2)", .nonVolatile), ("NULL", DefaultExpression.none),
        ("clock_timestamp()", .volatile(function: "clock_timestamp")), ("random() * 10", .volatile(function: "random")),
        ("gen_random_uuid()", .volatile(function: "gen_random_uuid")),
        ("nextval('s'::regclass)", .volatile(function: "nextval")),
        ("app.make_code(3)", .unknown(function: "app.make_code")),
        ("lower(md5(now()::text))", .nonVolatile),
    ])
    func defaultVolatility(_ text: String, _ expected: DefaultExpression) {
        #expect(DefaultExpression.classify(SQLLexer.tokens(in: text)[...]) == expected)
    }
}
