import FlotillaPostgres
import FlotillaTestSupport
import Logging
import PostgresNIO
import Testing

struct SQLIdentifierTests {
    static let hostileNames = [
        "a\"; DROP TABLE x; --",
        "Robert'); DROP TABLE students;--",
        "Ünïcødé 表 🚀",
        "with space",
        "\"",
        "\"\"",
        "x.y",
        "UPPER",
        "select",
        "$1",
        "back\\slash",
        "new\nline",
        "tenant_acme",
    ]

    @Test func quotesAndDoublesInnerQuotes() {
        #expect(quoteIdentifier("users") == #""users""#)
        #expect(quoteIdentifier("Users") == #""Users""#)
        #expect(quoteIdentifier("a\"b") == #""a""b""#)
        #expect(quoteIdentifier("a\"; DROP TABLE x; --") == #""a""; DROP TABLE x; --""#)
        #expect(quoteIdentifier("\"") == #""""""#)
        #expect(quoteIdentifier("") == #""""#)
        #expect(quoteIdentifier("a\0b\0") == #""ab""#)
        #expect(quoteIdentifier("表") == "\"表\"")
        #expect(quoteQualified("tenant_a", "users") == #""tenant_a"."users""#)
        #expect(quoteQualified("a.b", "c\"d") == #""a.b"."c""d""#)
        #expect(quoteQualified() == "")
    }

    @Test func literalsDoubleQuotesAndEscapeBackslashes() {
        #expect(quoteLiteral("users") == "'users'")
        #expect(quoteLiteral("it's") == "'it''s'")
        #expect(quoteLiteral("'") == "''''")
        #expect(quoteLiteral("") == "''")
        #expect(quoteLiteral(#"a\b"#) == #"E'a\\b'"#)
        #expect(quoteLiteral(#"\'"#) == #"E'\\'''"#)
        #expect(quoteLiteral("a\0b\0") == "'ab'")
        #expect(quoteLiteral("表") == "'表'")
    }

    @Test func namesAreQuotedOnlyWhereNeeded() {
        #expect(quoteIdentifierIfNeeded("users") == "users")
        #expect(quoteIdentifierIfNeeded("_a$1") == "_a$1")
        #expect(quoteIdentifierIfNeeded("Users") == #""Users""#)
        #expect(quoteIdentifierIfNeeded("select") == #""select""#)
        #expect(quoteIdentifierIfNeeded("1a") == #""1a""#)
        #expect(quoteIdentifierIfNeeded("$1") == #""$1""#)
        #expect(quoteIdentifierIfNeeded("a\"b") == #""a""b""#)
        #expect(quoteIdentifierIfNeeded("") == #""""#)
    }

    /// Every hostile text reads back as itself, also when the server takes backslashes in plain literals as escapes.
    @Test(.timeLimit(.minutes(10)))
    func hostileLiteralsRoundTripThroughTheServer() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "literal")
        let logger = Logger(label: "test")
        try await withPostgresConnection(url, logger: logger) { connection in
            for conforming in ["on", "off"] {
                try await connection.query(
                    PostgresQuery(unsafeSQL: "SET standard_conforming_strings = \(conforming)"), logger: logger)
                for text in Self.hostileNames + [#"\'; SELECT 1; --"#, #"'\"#] {
                    let rows = try await connection.query(
                        PostgresQuery(unsafeSQL: "SELECT \(quoteLiteral(text))"), logger: logger)
                    var values: [String] = []
                    for try await value in rows.decode(String.self) { values.append(value) }
                    #expect(values == [text], "standard_conforming_strings = \(conforming)")
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func hostileNamesRoundTripThroughTheServer() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "ident")
        let logger = Logger(label: "test")
        try await withPostgresConnection(url, logger: logger) { connection in
            try await connection.query("CREATE TABLE x (id int)", logger: logger)
            for name in Self.hostileNames {
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE SCHEMA \(quoteIdentifier(name))"), logger: logger)
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "CREATE TABLE \(quoteQualified(name, name)) (\(quoteIdentifier(name)) int)"),
                    logger: logger)
                try await connection.query(
                    PostgresQuery(unsafeSQL: "INSERT INTO \(quoteQualified(name, name)) VALUES (42)"), logger: logger)
            }
        }
        // Read back with psql, independently of the code under test.
        let tables = try psql(
            url,
            """
            SELECT table_schema || '/' || table_name FROM information_schema.tables
            WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1
            """)
        for name in Self.hostileNames {
            #expect(tables.contains("\(name)/\(name)"), "\(name) missing from \(tables)")
        }
        // Nothing was dropped by an injected statement.
        #expect(try psql(url, "SELECT count(*) FROM x") == "0")
        let columns = try psql(
            url,
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = column_name AND table_name = column_name"
        )
        #expect(columns == "\(Self.hostileNames.count)")
    }

    @Test(.timeLimit(.minutes(10)))
    func emptyNameIsRejectedByTheServer() async throws {
        let url = try await TestCluster.shared.freshDatabase(prefix: "ident")
        let logger = Logger(label: "test")
        let error = await #expect(throws: PSQLError.self) {
            try await withPostgresConnection(url, logger: logger) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE SCHEMA \(quoteIdentifier(""))"), logger: logger)
            }
        }
        #expect(error.flatMap(postgresSQLState) == "42601")
        #expect(error.map(postgresErrorSummary)?.contains("zero-length delimited identifier") == true)
    }
}
