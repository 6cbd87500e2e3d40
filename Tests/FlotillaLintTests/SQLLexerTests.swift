import Testing

@testable import FlotillaLint

@Suite("SQLLexer statements")
struct SQLLexerStatementTests {
    @Test func splitsOnSemicolonsAndTrims() {
        let sql = "  SELECT 1;\n\n  SELECT 2 ;  -- trailing\n;;\n/* lead */ SELECT 3"
        let statements = SQLLexer.statements(in: sql)
        #expect(statements.map(\.text) == ["SELECT 1", "SELECT 2", "SELECT 3"])
        #expect(statements.map(\.line) == [1, 3, 5])
        #expect(statements.map(\.column) == [3, 3, 12])
        let chars = Array(sql)
        for statement in statements {
            #expect(String(chars[statement.offset..<statement.offset + 6]) == "SELECT")
        }
    }

    @Test func semicolonsInStringsIdentifiersAndComments() {
        let sql = """
            INSERT INTO t VALUES ('a;b', 'it''s; fine'); SELECT "odd;name" FROM t -- not; here
            ; /* x; /* nested; */ still comment; */ SELECT 2;
            """
        let statements = SQLLexer.statements(in: sql)
        #expect(
            statements.map(\.text) == [
                "INSERT INTO t VALUES ('a;b', 'it''s; fine')",
                "SELECT \"odd;name\" FROM t",
                "SELECT 2",
            ])
        #expect(statements.map(\.line) == [1, 1, 2])
        #expect(statements[1].column == 46)
        #expect(statements[2].column == 41)
    }

    @Test func escapeStringsWithBackslashQuote() {
        let sql = "SELECT E'it\\'s; \\\\'; SELECT e'\\\\'; SELECT 'back\\'; SELECT 4"
        let statements = SQLLexer.statements(in: sql)
        #expect(statements.map(\.text) == ["SELECT E'it\\'s; \\\\'", "SELECT e'\\\\'", "SELECT 'back\\'", "SELECT 4"])
    }

    @Test func dollarQuotedBodies() {
        let sql = """
            CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
              DROP TABLE x; -- inside
              RAISE NOTICE 'a;b';
            END;
            $$;
            CREATE FUNCTION g() RETURNS text AS $body$ SELECT '$$;'::text; $body$ LANGUAGE sql;
            SELECT $1, a$b FROM t;
            """
        let statements = SQLLexer.statements(in: sql)
        #expect(statements.count == 3)
        #expect(statements[0].text.hasPrefix("CREATE FUNCTION f()"))
        #expect(statements[0].text.hasSuffix("END;\n$$"))
        #expect(
            statements[1].text == "CREATE FUNCTION g() RETURNS text AS $body$ SELECT '$$;'::text; $body$ LANGUAGE sql")
        #expect(statements[1].line == 7)
        #expect(statements[2].text == "SELECT $1, a$b FROM t")
        #expect(statements[2].line == 8)
    }

    @Test func nestedBlockCommentsAreSkipped() {
        let sql = "/* outer /* inner; */ still; */ SELECT 1; /* a */ /* b /* c */ */"
        let statements = SQLLexer.statements(in: sql)
        #expect(statements.map(\.text) == ["SELECT 1"])
        #expect(statements[0].column == 33)
    }

    @Test func metaCommandLinesAreSkipped() {
        let sql = """
            \\set ON_ERROR_STOP on
              \\echo starting; still meta
            SELECT 1;
            SELECT 'a
            \\not meta inside a string';
            SELECT 1 \\ 2;
            """
        let statements = SQLLexer.statements(in: sql)
        #expect(statements.map(\.text) == ["SELECT 1", "SELECT 'a\n\\not meta inside a string'", "SELECT 1 \\ 2"])
        #expect(statements.map(\.line) == [3, 4, 6])
    }

    @Test func gexecEndsTheStatement() {
        let sql = "SELECT format('CREATE INDEX ON %I (id)', t) FROM tables\n\\gexec\nSELECT 2"
        let statements = SQLLexer.statements(in: sql)
        #expect(statements.map(\.text) == ["SELECT format('CREATE INDEX ON %I (id)', t) FROM tables", "SELECT 2"])
    }

    @Test func copyFromStdinDataIsSkipped() {
        let sql = "COPY t (a, b) FROM stdin;\n1\tx;y\n2\t'z\n\\.\nSELECT 1;"
        let statements = SQLLexer.statements(in: sql)
        #expect(statements.map(\.text) == ["COPY t (a, b) FROM stdin", "SELECT 1"])
        #expect(statements[1].line == 5)
    }

    @Test func beginAtomicBodiesAndParenthesesKeepSemicolons() {
        let sql = """
            CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql
            BEGIN ATOMIC
              SELECT CASE WHEN a > 0 THEN a ELSE 0 END;
              SELECT a + b;
            END;
            CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO l VALUES (1); INSERT INTO l VALUES (2));
            BEGIN;
            SELECT 1;
            END;
            """
        let statements = SQLLexer.statements(in: sql)
        #expect(statements.count == 5)
        #expect(statements[0].text.hasSuffix("SELECT a + b;\nEND"))
        #expect(statements[1].line == 6)
        #expect(statements[1].text.hasSuffix("VALUES (2))"))
        #expect(statements[2...].map(\.text) == ["BEGIN", "SELECT 1", "END"])
    }

    @Test func lineAndColumnCountCharactersNotBytes() {
        let sql = "SELECT 'héllo🙂'; SELECT 2;\n\t  UPDATE t SET a = 1"
        let statements = SQLLexer.statements(in: sql)
        #expect(statements.map(\.column) == [1, 18, 4])
        #expect(statements.map(\.line) == [1, 1, 2])
        #expect(statements[1].offset == 17)
        #expect(statements[2].offset == 30)
    }

    @Test func unterminatedQuotesRunToTheEnd() {
        #expect(SQLLexer.statements(in: "SELECT 'abc; SELECT 2").map(\.text) == ["SELECT 'abc; SELECT 2"])
        #expect(SQLLexer.statements(in: "SELECT $$abc; SELECT 2").count == 1)
        #expect(SQLLexer.statements(in: "SELECT 1 /* abc; SELECT 2").map(\.text) == ["SELECT 1"])
    }

    @Test func emptyInput() {
        #expect(SQLLexer.statements(in: "").isEmpty)
        #expect(SQLLexer.statements(in: " ;\n -- only a comment\n ; /* x */").isEmpty)
    }
}

@Suite("SQLLexer tokens")
struct SQLLexerTokenTests {
    @Test func tokenKindsAndPositions() {
        let tokens = SQLLexer.tokens(in: "ALTER TABLE \"Users\"\n  ADD x numeric(10,2) DEFAULT -1.5e3::int -- c\n;")
        #expect(
            tokens.map(\.kind) == [
                .word, .word, .quotedIdentifier, .word, .word, .word, .punctuation, .number, .punctuation,
                .number, .punctuation, .word, .operator, .number, .operator, .word, .punctuation,
            ])
        #expect(tokens[2].identifier == "Users")
        #expect(tokens[0].identifier == "alter")
        #expect(tokens[3].line == 2)
        #expect(tokens[3].column == 3)
        #expect(tokens[13].text == "1.5e3")
        #expect(tokens[14].text == "::")
        #expect(tokens.last?.line == 3)
    }

    @Test func stringPrefixesAndDollarTags() {
        let tokens = SQLLexer.tokens(in: "E'a\\'b' B'101' X'ff' U&'d\\0061' U&\"Col\" $fn$ x $$ y $fn$ $2 e")
        #expect(
            tokens.map(\.kind) == [.string, .string, .string, .string, .quotedIdentifier, .string, .parameter, .word])
        #expect(tokens[5].text == "$fn$ x $$ y $fn$")
        #expect(tokens[4].identifier == "Col")
    }

    @Test func quotedIdentifierUnescapesDoubledQuotes() {
        let tokens = SQLLexer.tokens(in: "\"a\"\"b\" MixedCase")
        #expect(tokens.map(\.identifier) == ["a\"b", "mixedcase"])
    }

    @Test func operatorsStopBeforeComments() {
        let tokens = SQLLexer.tokens(in: "a <>-- comment\n b */* c */ d")
        #expect(tokens.map(\.text) == ["a", "<>", "b", "*", "d"])
        let withComments = SQLLexer.tokens(in: "a <>-- comment\n b", includeComments: true)
        #expect(withComments.map(\.kind) == [.word, .operator, .comment, .word])
        #expect(withComments[2].text == "-- comment")
    }
}

@Suite("SQLStatement")
struct SQLStatementTests {
    @Test(arguments: [
        ("CREATE INDEX CONCURRENTLY i ON t (a)", true), ("create unique index concurrently i on t (a)", true),
        ("CREATE INDEX i ON t (a)", false), ("DROP INDEX CONCURRENTLY IF EXISTS i", true), ("DROP INDEX i", false),
        ("REINDEX TABLE CONCURRENTLY t", true), ("REINDEX (CONCURRENTLY) INDEX i", true), ("REINDEX TABLE t", false),
        ("REINDEX DATABASE app", true), ("VACUUM ANALYZE t", true), ("CREATE DATABASE x", true),
        ("ALTER SYSTEM SET work_mem = '64MB'", true), ("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY", true),
        ("ALTER TABLE p DETACH PARTITION p1", false), ("SELECT 'CREATE INDEX CONCURRENTLY'", false),
        ("CREATE TABLE concurrently (a int)", false),
    ])
    func mustRunOutsideTransaction(_ sql: String, _ expected: Bool) throws {
        let statement = try #require(SQLLexer.statements(in: sql).first)
        #expect(statement.mustRunOutsideTransaction == expected)
    }
}
