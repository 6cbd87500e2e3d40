import FlotillaLint
import Foundation
import Testing

@Suite("Linter")
struct LinterTests {
    let linter = Linter()

    @Test func multiActionAlterTableGivesOneFindingPerActionAtItsPosition() throws {
        let sql = """
            SELECT 1;
            ALTER TABLE users
                ADD COLUMN a int,
                DROP COLUMN b,  ALTER COLUMN c SET NOT NULL,
                ADD CONSTRAINT k CHECK (d > 0) NOT VALID;
            """
        let findings = linter.lint([LintInput(file: "m.sql", sql: sql)]).filter { $0.rule != "statement" }
        #expect(findings.map(\.rule) == ["add-column", "drop-column", "set-not-null", "add-constraint-not-valid"])
        #expect(findings.map(\.line) == [3, 4, 4, 5])
        #expect(findings.map(\.column) == [5, 5, 21, 5])
        #expect(findings.allSatisfy { $0.statement.hasPrefix("ALTER TABLE users ADD COLUMN a int, DROP COLUMN b,") })
    }

    @Test func singleActionFindingPointsAtTheStatement() {
        let findings = linter.lint([LintInput(file: "s.sql", sql: "\n\n   ALTER TABLE users DROP COLUMN b;")])
        #expect(findings.count == 1)
        #expect(findings.first?.line == 3)
        #expect(findings.first?.column == 4)
    }

    @Test func lineAndColumnOffsetsAreApplied() {
        let sql = "ALTER TABLE users DROP COLUMN b;\n  UPDATE users SET a = 1;"
        let plain = linter.lint([LintInput(file: "c.yaml", sql: sql)])
        let shifted = linter.lint([
            LintInput(file: "c.yaml", sql: sql, lineOffset: 11, columnOffset: 6, phase: "contract")
        ])
        #expect(plain.map(\.line) == [1, 2])
        #expect(plain.map(\.column) == [1, 3])
        #expect(shifted.map(\.line) == [12, 13])
        #expect(shifted.map(\.column) == [7, 9])
        #expect(shifted.allSatisfy { $0.phase == "contract" && $0.file == "c.yaml" })
    }

    @Test func createdInThisChangeCarriesAcrossInputsAndCaseFolds() {
        let findings = linter.lint([
            LintInput(file: "c.yaml", sql: "CREATE TABLE Billing.Invoices (id bigint)", phase: "expand"),
            LintInput(
                file: "c.yaml",
                sql: """
                    CREATE INDEX ON billing.invoices (id);
                    CREATE INDEX ON invoices (id);
                    CREATE INDEX ON other.invoices (id);
                    CREATE INDEX ON users (id);
                    """,
                phase: "index"
            ),
        ])
        #expect(findings.map(\.risk) == [.low, .low, .low, .medium, .medium])
        #expect(findings[1].message.contains("created in this change"))
        #expect(!findings[4].message.contains("created in this change"))
    }

    @Test func eachInputIsItsOwnTransaction() {
        let add = "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID"
        let validate = "ALTER TABLE orders VALIDATE CONSTRAINT fk"
        let separate = linter.lint([
            LintInput(file: "c.yaml", sql: add, phase: "expand"),
            LintInput(file: "c.yaml", sql: validate, phase: "validate"),
        ])
        #expect(separate.map(\.rule) == ["add-constraint-not-valid", "validate-constraint"])
        #expect(separate.map(\.lock) == ["SHARE ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE"])
        let together = linter.lint([LintInput(file: "c.yaml", sql: add + ";\n" + validate)])
        #expect(together.map(\.rule) == ["add-constraint-not-valid", "validate-constraint-in-transaction"])
        #expect(together.last?.risk == .high)
        let committed = linter.lint([
            LintInput(file: "x.sql", sql: "BEGIN;\n\(add);\nCOMMIT;\n\(validate);", inTransaction: false)
        ])
        #expect(committed.last?.rule == "validate-constraint")
    }

    @Test func theSetNotNullRewriteIsAllLowRisk() {
        let findings = linter.lint([
            LintInput(
                file: "c.yaml", sql: "ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID",
                phase: "constrain"
            ),
            LintInput(file: "c.yaml", sql: "ALTER TABLE users VALIDATE CONSTRAINT email_nn", phase: "validate"),
            LintInput(
                file: "c.yaml",
                sql: """
                    ALTER TABLE users ALTER COLUMN email SET NOT NULL;
                    ALTER TABLE users DROP CONSTRAINT email_nn;
                    """,
                phase: "enforce"
            ),
        ])
        #expect(
            findings.map(\.rule) == [
                "add-constraint-not-valid", "validate-constraint", "set-not-null", "drop-constraint",
            ]
        )
        #expect(findings.allSatisfy { $0.risk == .low })
    }

    @Test func unnamedNotNullCheckGetsPostgresDefaultName() {
        let findings = linter.lint([
            LintInput(file: "a.sql", sql: "ALTER TABLE users ADD CHECK (email IS NOT NULL) NOT VALID"),
            LintInput(file: "b.sql", sql: "ALTER TABLE users VALIDATE CONSTRAINT users_email_check"),
            LintInput(file: "c.sql", sql: "ALTER TABLE users ALTER COLUMN email SET NOT NULL"),
        ])
        #expect(findings.last?.rule == "set-not-null")
        #expect(findings.last?.risk == .low)
    }

    @Test func messagesCarryTheSafeRewrite() throws {
        let sql = """
            ALTER TABLE users ALTER COLUMN email SET NOT NULL;
            CREATE INDEX users_email_idx ON users (email);
            ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
            ALTER TABLE users ADD COLUMN n bigint DEFAULT nextval('s');
            ALTER TABLE users RENAME COLUMN email TO mail;
            UPDATE users SET a = 1;
            """
        let findings = linter.lint([LintInput(file: "x.sql", sql: sql, inTransaction: false)])
        try #require(findings.count == 6)
        #expect(findings[0].message.contains("CHECK (email IS NOT NULL) NOT VALID"))
        #expect(findings[0].message.contains("VALIDATE CONSTRAINT"))
        #expect(findings[0].strategy == "validation then enforcement")
        #expect(findings[0].lock == "ACCESS EXCLUSIVE")
        #expect(findings[1].message.contains("CONCURRENTLY"))
        #expect(findings[1].lock == "SHARE")
        #expect(findings[2].message.contains("CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email)"))
        #expect(findings[2].message.contains("UNIQUE USING INDEX users_email_key"))
        #expect(findings[3].strategy == "multi-phase approach; backfill phase")
        #expect(findings[3].message.contains("SET DEFAULT"))
        #expect(findings[4].strategy == "alias pattern")
        #expect(findings[5].strategy == "backfill phase")
        #expect(findings[5].lock == "ROW EXCLUSIVE")
    }

    @Test func statementSummaryIsShortAndCollapsed() throws {
        let long = "UPDATE users\n    SET a = 1,\n        b = '" + String(repeating: "x", count: 200) + "'"
        let finding = try #require(linter.lint([LintInput(file: "x.sql", sql: long)]).first)
        #expect(finding.statement.count == 80)
        #expect(finding.statement.hasPrefix("UPDATE users SET a = 1, b = 'xxx"))
        #expect(finding.statement.hasSuffix("…"))
    }

    @Test func failsAtThreshold() {
        var finding = Finding(
            file: "f", line: 1, column: 1, rule: "drop-column", risk: .high, strategy: "deprecation pattern",
            lock: "ACCESS EXCLUSIVE", message: "m", statement: "s"
        )
        #expect(finding.fails(at: .high))
        #expect(finding.fails(at: .medium))
        #expect(!finding.fails(at: .error))
        finding.acknowledged = "reviewed"
        #expect(!finding.fails(at: .low))
    }

    @Test func riskOrder() {
        #expect(Risk.low < .medium && Risk.medium < .high && Risk.high < .error)
        #expect(Risk.allCases.max() == .error)
        #expect(Risk.allCases.sorted() == [.low, .medium, .high, .error])
    }

    @Test func rulesAreDocumented() {
        let strategies: Set<String> = [
            "direct deployment", "multi-phase approach", "alias pattern", "deprecation pattern",
            "shadow column pattern",
            "online index creation", "validation then enforcement", "backfill phase", "no online path",
            "concurrent form",
        ]
        let locks: Set<String> = [
            "none", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "ACCESS EXCLUSIVE",
        ]
        let ids = Linter.rules.map(\.id)
        #expect(Set(ids).count == ids.count)
        for rule in Linter.rules {
            #expect(rule.id.allSatisfy { $0 == "-" || ($0.isLowercase && $0.isASCII) }, "\(rule.id) is not kebab-case")
            let parts = rule.strategy.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(parts.allSatisfy(strategies.contains), "\(rule.id): \(rule.strategy)")
            #expect(locks.contains(rule.lock), "\(rule.id): \(rule.lock)")
            #expect(!rule.summary.isEmpty)
        }
        #expect(ids.contains("add-column-volatile-default"))
        #expect(ids.contains("unbatched-update"))
        #expect(ids.contains("ignore-without-reason"))
        #expect(ids.contains("statement"))
    }
}

@Suite("Transactions and the alias pattern")
struct TransactionShapeTests {
    let linter = Linter()

    func findings(_ sql: String, inTransaction: Bool = false) -> [Finding] {
        linter.lint([LintInput(file: "x.sql", sql: sql, inTransaction: inTransaction)])
    }

    @Test func aliasPatternInOneTransactionIsLow() throws {
        let found = findings(
            "BEGIN;\nALTER TABLE users RENAME TO accounts;\nCREATE VIEW users AS SELECT * FROM accounts;\nCOMMIT;")
        let rename = try #require(found.first { $0.rule == "rename-table" })
        #expect(rename.risk == .low)
        #expect(rename.strategy == "direct deployment")
        #expect(rename.message.contains("alias pattern"))
        #expect(found.allSatisfy { $0.risk == .low })
    }

    @Test func renameWithoutTheViewOrAcrossTransactionsStaysHigh() throws {
        let alone = findings("BEGIN;\nALTER TABLE users RENAME TO accounts;\nCOMMIT;")
        #expect(alone.first { $0.rule == "rename-table" }?.risk == .high)
        // Committed in between: the old name is missing until the view exists.
        let split = findings(
            "BEGIN;\nALTER TABLE users RENAME TO accounts;\nCOMMIT;\nCREATE VIEW users AS SELECT * FROM accounts;")
        #expect(split.first { $0.rule == "rename-table" }?.risk == .high)
        // Autocommit: each statement is its own transaction.
        let autocommit = findings(
            "ALTER TABLE users RENAME TO accounts;\nCREATE VIEW users AS SELECT * FROM accounts;")
        #expect(autocommit.first { $0.rule == "rename-table" }?.risk == .high)
        // A view under the old name over some other table is not an alias.
        let other = findings(
            "BEGIN;\nALTER TABLE users RENAME TO accounts;\nCREATE VIEW users AS SELECT * FROM people;\nCOMMIT;")
        #expect(other.first { $0.rule == "rename-table" }?.risk == .high)
    }

    @Test func unterminatedBeginPointsAtTheBegin() throws {
        let found = findings("SELECT 1;\nBEGIN;\nALTER TABLE users ADD COLUMN a int;")
        let shape = try #require(found.first { $0.rule == "transaction-shape" })
        #expect(shape.line == 2)
        #expect(shape.risk == .medium)
        #expect(shape.statement == "BEGIN")
        // One finding per statement: the BEGIN's says it is never committed.
        #expect(found.count == 3)
        #expect(found.map(\.line) == [1, 2, 3])
    }

    @Test func doubleBeginNamesTheFirst() throws {
        let found = findings("BEGIN;\nSELECT 1;\nBEGIN;\nCOMMIT;")
        let shape = try #require(found.first { $0.rule == "transaction-shape" })
        #expect(shape.line == 3)
        #expect(shape.message.contains("line 1"))
        // The COMMIT closes the transaction: no unterminated BEGIN.
        #expect(found.filter { $0.rule == "transaction-shape" }.count == 1)
    }

    @Test func commitEndsTheSurroundingTransaction() {
        let sql = "ALTER TABLE users ADD COLUMN a int;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON users (a);"
        let found = findings(sql, inTransaction: true)
        #expect(found.map(\.rule) == ["add-column", "statement", "create-index-concurrently"])
    }

    /// In a phase Flotilla runs as one transaction, a COMMIT ends the transaction that also holds the phase's verify
    /// and ledger row; the next phase starts afresh, and a phase run without one may use BEGIN … COMMIT.
    @Test func commitInAPhaseTransactionIsHighAndTheNextPhaseStartsAfresh() throws {
        let found = Linter().lint([
            LintInput(
                file: "c.yaml", sql: "ALTER TABLE users ADD COLUMN a int;\nCOMMIT;\nCOMMIT;", phase: "expand",
                isPhaseTransaction: true),
            LintInput(
                file: "c.yaml", sql: "BEGIN;\nSELECT 1;\nCOMMIT;", lineOffset: 10, phase: "own", inTransaction: false),
            LintInput(
                file: "c.yaml", sql: "BEGIN;\nSELECT 1;", lineOffset: 20, phase: "next", isPhaseTransaction: true),
        ])
        #expect(
            found.map(\.rule) == [
                "add-column", "transaction-control-in-phase", "transaction-shape", "statement", "statement",
                "statement", "transaction-control-in-phase", "statement",
            ])
        let commit = try #require(found.first { $0.rule == "transaction-control-in-phase" })
        #expect(commit.line == 2)
        #expect(commit.risk == .high)
        #expect(commit.phase == "expand")
        #expect(commit.message.contains("ledger row"))
        // The second COMMIT has no transaction left to end.
        #expect(found[2].message.contains("no transaction open"))
        // A BEGIN in a phase's transaction is flagged where it stands; it opens nothing, so nothing is left open.
        #expect(found[6].line == 21)
        #expect(!found.contains { $0.message.contains("never committed") })
    }
}
