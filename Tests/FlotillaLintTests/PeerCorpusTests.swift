import FlotillaLint
import Foundation
import Testing

/// What a peer linter says about a statement, read from its public rule docs and rule tests.
enum PeerVerdict: Sendable {
    /// One of its rules fires.
    case flags
    /// Its rule about this kind of statement lets it pass (an "ok" example of that rule).
    case accepts
    /// It has no rule about this kind of statement, or only a style rule (text over varchar, bigint over int,
    /// timestamptz, IF NOT EXISTS, a lock_timeout set in the script): no opinion on its rollout risk.
    case none
}

/// One statement of the corpus: squawk's, strong_migrations' and eugene's verdicts and the Flotilla risk.
struct PeerCase: Sendable, CustomTestStringConvertible {
    var sql: String
    var squawk: PeerVerdict
    var strongMigrations: PeerVerdict
    var eugene: PeerVerdict
    var flotilla: Risk
    /// The statements run in one transaction that the migration tool opens: for Flotilla a phase with
    /// `transaction: auto` (its verify and ledger row share the transaction), for squawk `assume_in_transaction`,
    /// for strong_migrations and eugene a migration run in a transaction.
    var inTransaction = false
    /// Why Flotilla differs from the peers' verdict; required for every such statement.
    var disagreement: String?

    var testDescription: String { sql }

    /// The verdicts of the peers that have an opinion.
    var opinions: [PeerVerdict] { [squawk, strongMigrations, eugene].filter { $0 != .none } }

    /// The peers' shared verdict: at least two peers give one, and they say the same.
    var consensus: PeerVerdict? {
        let opinions = opinions
        guard opinions.count >= 2, opinions.allSatisfy({ $0 == opinions[0] }) else { return nil }
        return opinions[0]
    }

    /// The verdict of the only peer with an opinion, when only one has one.
    var soleOpinion: PeerVerdict? {
        let opinions = opinions
        return opinions.count == 1 ? opinions[0] : nil
    }

    /// What Flotilla is compared with: the consensus, or the only opinion there is.
    var reference: PeerVerdict? { consensus ?? soleOpinion }

    /// Whether Flotilla says the same as `reference`: flagged means at least medium.
    var agrees: Bool {
        guard let reference else { return true }
        return (flotilla >= .medium) == (reference == .flags)
    }

    func flotillaRisk() -> Risk? {
        Linter().lint(
            LintInput(file: "corpus.sql", sql: sql, inTransaction: inTransaction, isPhaseTransaction: inTransaction)
        ).map(\.risk).max()
    }
}

/// Statements from the rule examples of squawk (`squawk_linter` rule tests and docs: their `err` and `ok` cases),
/// strong_migrations (its README's checks and safe alternatives, written as the SQL the Rails methods run) and eugene
/// (the lint reports of its hint examples E1–E11, W12–W14; E15 is found by `eugene trace` only), with each verdict,
/// read from the peer's own examples, tests and rule descriptions; `.none` where they say nothing about the statement.
///
/// Two figures: agreement where the peers agree with each other (at least two give a verdict, and the same one), and
/// agreement counting also the statements only one peer judges. Atlas's analyzers are read for the rules' rationale
/// but have no column: their checks need the previous schema (a `migrate lint` over a directory), not one statement.
///
/// Left out: rules about style rather than rollout risk (squawk's prefer-text-field, prefer-bigint-over-int,
/// prefer-timestamptz, prefer-identity, prefer-robust-stmts, ban-char-field; eugene's W12 "several ALTER TABLE where
/// one would do"),
/// and rules about timeouts the script must set itself (squawk's require-timeout-settings, eugene's E9): Flotilla sets
/// `lock_timeout` and `statement_timeout` on every tenant session from the policy.
enum PeerCorpus {
    static let cases: [PeerCase] = [
        // Columns
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN nickname text", squawk: .accepts, strongMigrations: .accepts,
            eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN active boolean DEFAULT true", squawk: .accepts,
            strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN created_at timestamptz DEFAULT now()", squawk: .accepts,
            strongMigrations: .none, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid()", squawk: .flags,
            strongMigrations: .flags, eugene: .none, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN token uuid DEFAULT uuid()", squawk: .flags, strongMigrations: .flags,
            eugene: .none, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL", squawk: .flags,
            strongMigrations: .none, eugene: .none, flotilla: .medium),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN id bigserial PRIMARY KEY", squawk: .flags, strongMigrations: .flags,
            eugene: .flags, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE items ADD COLUMN total numeric GENERATED ALWAYS AS (price * qty) STORED",
            squawk: .flags, strongMigrations: .flags, eugene: .flags, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY", squawk: .accepts,
            strongMigrations: .flags, eugene: .none, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN settings json", squawk: .none, strongMigrations: .flags, eugene: .flags,
            flotilla: .medium),
        // eugene's E3 and E10 examples add jsonb; strong_migrations' json check recommends it.
        PeerCase(
            sql: "ALTER TABLE core_recipe ADD COLUMN foo jsonb DEFAULT '{}'::jsonb", squawk: .accepts,
            strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE core_recipe ADD COLUMN foo jsonb DEFAULT myjsonb()", squawk: .flags,
            strongMigrations: .none, eugene: .none, flotilla: .medium),
        PeerCase(
            sql: "ALTER TABLE core_recipe ADD COLUMN foo some_enum_type DEFAULT 'my-enum-variant'", squawk: .accepts,
            strongMigrations: .none, eugene: .none, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE account_metadata ADD COLUMN blah integer DEFAULT 2 + 2", squawk: .flags,
            strongMigrations: .none, eugene: .none, flotilla: .low,
            disagreement: "squawk's own test is named add_numbers_ok and says the statement should be fine: its "
                + "check takes only a literal or a known function as constant; 2 + 2 is immutable, stored once."),
        PeerCase(
            sql: "ALTER TABLE t SET LOGGED, ADD COLUMN c integer DEFAULT uuid()", squawk: .flags,
            strongMigrations: .none, eugene: .none, flotilla: .high),
        PeerCase(
            sql:
                "ALTER TABLE core_recipe ADD COLUMN foo integer;\nALTER TABLE core_recipe ALTER COLUMN foo SET DEFAULT 10;",
            squawk: .accepts, strongMigrations: .accepts, eugene: .none, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN number bigserial", squawk: .none, strongMigrations: .flags,
            eugene: .flags, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users ALTER COLUMN id TYPE bigint", squawk: .flags, strongMigrations: .flags,
            eugene: .flags, flotilla: .high),
        // squawk flags every type change; strong_migrations knows varchar → text is safe: no consensus.
        PeerCase(
            sql: "ALTER TABLE users ALTER COLUMN bio TYPE text", squawk: .flags, strongMigrations: .accepts,
            eugene: .flags, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE users ALTER COLUMN email SET NOT NULL", squawk: .flags, strongMigrations: .flags,
            eugene: .flags, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users ALTER COLUMN email DROP NOT NULL", squawk: .flags, strongMigrations: .none,
            eugene: .none, flotilla: .medium),
        PeerCase(
            sql: "ALTER TABLE users RENAME COLUMN email TO email_address", squawk: .flags, strongMigrations: .flags,
            eugene: .none, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users DROP COLUMN legacy", squawk: .flags, strongMigrations: .flags, eugene: .none,
            flotilla: .high),
        // Tables, schemas, databases
        PeerCase(
            sql: "ALTER TABLE users RENAME TO accounts", squawk: .flags, strongMigrations: .flags, eugene: .none,
            flotilla: .high),
        PeerCase(
            sql: "BEGIN;\nALTER TABLE users RENAME TO accounts;\nCREATE VIEW users AS SELECT * FROM accounts;\nCOMMIT;",
            squawk: .flags, strongMigrations: .flags, eugene: .none, flotilla: .low,
            disagreement: "the alias pattern: the view under the old name is created in the rename's transaction, so "
                + "running queries keep working (simple views are updatable); the peers look at the rename alone."),
        PeerCase(
            sql: "DROP TABLE legacy_events", squawk: .flags, strongMigrations: .none, eugene: .none, flotilla: .high),
        PeerCase(
            sql: "DROP DATABASE tenant_acme", squawk: .flags, strongMigrations: .none, eugene: .none, flotilla: .high),
        PeerCase(
            sql: "TRUNCATE audit_log CASCADE", squawk: .flags, strongMigrations: .none, eugene: .none,
            flotilla: .high),
        PeerCase(
            sql: "TRUNCATE audit_log", squawk: .accepts, strongMigrations: .none, eugene: .none, flotilla: .high,
            disagreement: "squawk's ban-truncate-cascade is about CASCADE reaching other tables; Flotilla rates any "
                + "TRUNCATE of an existing table high: every row goes at once under ACCESS EXCLUSIVE and no `down` "
                + "brings them back."),
        // Constraints
        PeerCase(
            sql: "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0)", squawk: .flags,
            strongMigrations: .flags, eugene: .flags, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID", squawk: .accepts,
            strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE orders VALIDATE CONSTRAINT positive", squawk: .accepts, strongMigrations: .accepts,
            eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: """
                ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;
                ALTER TABLE orders VALIDATE CONSTRAINT positive;
                """,
            squawk: .flags, strongMigrations: .none, eugene: .flags, flotilla: .high, inTransaction: true),
        PeerCase(
            sql: "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id)", squawk: .flags,
            strongMigrations: .flags, eugene: .flags, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID",
            squawk: .accepts, strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: """
                BEGIN;
                ALTER TABLE app_email ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES app_user (id) NOT VALID;
                ALTER TABLE app_email VALIDATE CONSTRAINT fk_user;
                COMMIT;
                """,
            squawk: .flags, strongMigrations: .none, eugene: .none, flotilla: .high),
        PeerCase(
            sql: """
                ALTER TABLE distributors ADD CONSTRAINT distfk FOREIGN KEY (address) REFERENCES addresses (address)
                    NOT VALID;
                ALTER TABLE distributors VALIDATE CONSTRAINT distfk;
                """,
            squawk: .accepts, strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: """
                BEGIN;
                CREATE TABLE core_foo (id serial NOT NULL PRIMARY KEY, age integer NOT NULL);
                ALTER TABLE core_foo ADD CONSTRAINT age_restriction CHECK (age >= 25);
                COMMIT;
                """,
            squawk: .accepts, strongMigrations: .none, eugene: .none, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE orders ADD COLUMN user_id bigint REFERENCES users (id)", squawk: .flags,
            strongMigrations: .flags, eugene: .flags, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)", squawk: .flags,
            strongMigrations: .flags, eugene: .flags, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx",
            squawk: .accepts, strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN handle text UNIQUE", squawk: .flags, strongMigrations: .none,
            eugene: .flags, flotilla: .high),
        PeerCase(
            sql: "ALTER TABLE users ADD PRIMARY KEY (id)", squawk: .flags, strongMigrations: .none, eugene: .flags,
            flotilla: .high),
        // squawk's adding-primary-key-constraint asks for USING INDEX; eugene's W14 warns that PostgreSQL then sets
        // the index's columns NOT NULL (a scan under ACCESS EXCLUSIVE) unless they already are: no consensus.
        PeerCase(
            sql: "ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_id_idx", squawk: .accepts,
            strongMigrations: .none, eugene: .flags, flotilla: .high),
        // strong_migrations' safe recipe for NOT NULL, then the primary key on the concurrently built index.
        PeerCase(
            sql: """
                ALTER TABLE users ADD CONSTRAINT id_nn CHECK (id IS NOT NULL) NOT VALID;
                ALTER TABLE users VALIDATE CONSTRAINT id_nn;
                ALTER TABLE users ALTER COLUMN id SET NOT NULL;
                CREATE UNIQUE INDEX CONCURRENTLY users_id_idx ON users (id);
                ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_id_idx;
                """,
            // eugene's lint cannot see the validated check, so its own E2 example silences E2 on that SET NOT NULL
            // by hand, and W14 warns on the PRIMARY KEY USING INDEX.
            squawk: .none, strongMigrations: .accepts, eugene: .flags, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&)",
            squawk: .none, strongMigrations: .flags, eugene: .flags, flotilla: .high),
        // Domains and types
        PeerCase(
            sql: "ALTER DOMAIN positive_int ADD CONSTRAINT positive CHECK (VALUE > 0)", squawk: .flags,
            strongMigrations: .none, eugene: .none, flotilla: .high),
        PeerCase(
            sql: "CREATE DOMAIN positive_int AS int CHECK (VALUE > 0)", squawk: .flags, strongMigrations: .none,
            eugene: .none, flotilla: .medium),
        PeerCase(
            sql: "CREATE DOMAIN zip_code AS text", squawk: .accepts, strongMigrations: .none, eugene: .none,
            flotilla: .low),
        PeerCase(
            sql: "ALTER DOMAIN email SET NOT NULL", squawk: .accepts, strongMigrations: .none, eugene: .none,
            flotilla: .high,
            disagreement: "squawk's domain rule is about ADD CONSTRAINT; SET NOT NULL on a domain checks every "
                + "column of that type in every table for NULLs under SHARE (writes blocked), like ADD CONSTRAINT."),
        PeerCase(
            sql: "ALTER DOMAIN email DROP CONSTRAINT email_check", squawk: .accepts, strongMigrations: .none,
            eugene: .none, flotilla: .low),
        PeerCase(
            sql: "CREATE TYPE mood AS ENUM ('happy', 'sad')", squawk: .none, strongMigrations: .none, eugene: .flags,
            flotilla: .low,
            disagreement: "eugene's W13 (E13 before) advises against enums because removing a label later is hard; "
                + "creating the type touches no table. Flotilla flags the later change that hurts "
                + "(ALTER TYPE … RENAME VALUE)."),
        // Indexes
        PeerCase(
            sql: "CREATE INDEX users_email_idx ON users (email)", squawk: .flags, strongMigrations: .flags,
            eugene: .flags, flotilla: .medium),
        PeerCase(
            sql: "CREATE UNIQUE INDEX users_email_idx ON users (email)", squawk: .flags, strongMigrations: .flags,
            eugene: .flags, flotilla: .medium),
        PeerCase(
            sql: "CREATE INDEX CONCURRENTLY users_email_idx ON users (email)", squawk: .accepts,
            strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "BEGIN;\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCOMMIT;", squawk: .flags,
            strongMigrations: .flags, eugene: .none, flotilla: .error),
        // strong_migrations' add_reference: the column, then its index.
        PeerCase(
            sql:
                "ALTER TABLE orders ADD COLUMN user_id bigint;\nCREATE INDEX index_orders_on_user_id ON orders (user_id);",
            squawk: .flags, strongMigrations: .flags, eugene: .flags, flotilla: .medium),
        PeerCase(
            sql: """
                ALTER TABLE orders ADD COLUMN user_id bigint;
                CREATE INDEX CONCURRENTLY index_orders_on_user_id ON orders (user_id);
                """,
            squawk: .accepts, strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "REINDEX INDEX users_email_idx", squawk: .flags, strongMigrations: .none, eugene: .none,
            flotilla: .medium),
        PeerCase(
            sql: "REINDEX INDEX CONCURRENTLY users_email_idx", squawk: .accepts, strongMigrations: .none,
            eugene: .none, flotilla: .low),
        PeerCase(
            sql: "ALTER TABLE measurements DETACH PARTITION measurements_2023", squawk: .flags,
            strongMigrations: .none, eugene: .none, flotilla: .medium),
        PeerCase(
            sql: "ALTER TABLE measurements DETACH PARTITION measurements_2023 CONCURRENTLY", squawk: .accepts,
            strongMigrations: .none, eugene: .none, flotilla: .low),
        PeerCase(
            sql: "DROP INDEX users_email_idx", squawk: .flags, strongMigrations: .none, eugene: .none,
            flotilla: .medium),
        PeerCase(
            sql: "DROP INDEX CONCURRENTLY users_email_idx", squawk: .accepts, strongMigrations: .none, eugene: .none,
            flotilla: .low),
        // Transactions and data
        PeerCase(
            sql: "BEGIN;\nBEGIN;\nSELECT 1;\nCOMMIT;", squawk: .flags, strongMigrations: .none, eugene: .none,
            flotilla: .medium),
        PeerCase(
            sql: "ALTER TABLE users ADD COLUMN a int;\nUPDATE users SET a = 1;", squawk: .none,
            strongMigrations: .flags, eugene: .flags, flotilla: .high, inTransaction: true),
        // squawk's transaction-nesting with assume_in_transaction: the migration tool's transaction is Flotilla's
        // phase transaction, which also holds the phase's verify and ledger row.
        PeerCase(
            sql: "SELECT 1;\nCOMMIT;", squawk: .flags, strongMigrations: .none, eugene: .none, flotilla: .high,
            inTransaction: true),
        PeerCase(
            sql: "SELECT 1;\nROLLBACK;", squawk: .flags, strongMigrations: .none, eugene: .none, flotilla: .high,
            inTransaction: true),
        PeerCase(
            sql: "BEGIN;\nSELECT 1;\nCOMMIT;\nCOMMIT;", squawk: .flags, strongMigrations: .none, eugene: .none,
            flotilla: .medium),
        PeerCase(
            sql: "BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;\nCOMMIT;", squawk: .accepts, strongMigrations: .none,
            eugene: .none, flotilla: .low),
        PeerCase(
            sql: "BEGIN;\nCREATE TABLE core_foo (id bigint PRIMARY KEY);", squawk: .flags, strongMigrations: .none,
            eugene: .none, flotilla: .medium),
        // eugene's E4 example: more statements after the ACCESS EXCLUSIVE lock of an ALTER in the same transaction;
        // squawk's adding-required-field flags the ALTER itself.
        PeerCase(
            sql: "ALTER TABLE authors ADD COLUMN email text NOT NULL;\nSELECT count(*) FROM authors;",
            squawk: .flags, strongMigrations: .none, eugene: .flags, flotilla: .medium, inTransaction: true),
        PeerCase(
            sql: "CREATE TABLE invoices (id bigint PRIMARY KEY, total numeric(10,2))", squawk: .accepts,
            strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "CREATE TABLE invoices (id bigint PRIMARY KEY);\nCREATE INDEX invoices_id_idx ON invoices (id);",
            squawk: .accepts, strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
    ]

    /// The statements where the peers agree with each other: at least two give a verdict, and the same one.
    static var consensusCases: [PeerCase] { cases.filter { $0.consensus != nil } }

    /// The statements with a peer verdict to compare with: a consensus, or the verdict of the only peer with one.
    static var judgedCases: [PeerCase] { cases.filter { $0.reference != nil } }

    /// What README.md says, computed from the corpus.
    static var statement: String {
        func figure(_ cases: [PeerCase]) -> String {
            let agreeing = cases.filter(\.agrees).count
            let tenths = agreeing * 1000 / max(cases.count, 1)
            return "\(agreeing) of \(cases.count) (\(tenths / 10).\(tenths % 10)%)"
        }
        return "where at least two peers judge a statement and agree with each other, Flotilla agrees with them on "
            + "\(figure(consensusCases)); counting also the statements only one peer judges, on \(figure(judgedCases))"
    }

    /// Agreement where the peers agree with each other.
    static var agreement: Double {
        Double(consensusCases.filter(\.agrees).count) / Double(max(consensusCases.count, 1))
    }
}

@Suite("Peer corpus")
struct PeerCorpusTests {
    @Test(arguments: PeerCorpus.cases)
    func flotillaRisk(_ row: PeerCase) {
        #expect(row.flotillaRisk() == row.flotilla)
    }

    @Test(arguments: PeerCorpus.cases)
    func everyDisagreementIsExplained(_ row: PeerCase) {
        if row.agrees {
            #expect(row.disagreement == nil, "an agreeing statement carries no disagreement note")
        } else {
            #expect(row.disagreement?.isEmpty == false, "explain why Flotilla differs from the peers")
        }
    }

    /// The figure, printed and held to the goal; README.md states it word for word.
    @Test func agreementReachesTheGoalAndIsStated() throws {
        print("Peer corpus: \(PeerCorpus.statement).")
        #expect(PeerCorpus.cases.count >= 70)
        #expect(PeerCorpus.consensusCases.count >= 30)
        #expect(PeerCorpus.agreement >= 0.97)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let flowing = readme.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flowing.contains(PeerCorpus.statement), "README.md states: \(PeerCorpus.statement)")
        #expect(flowing.contains("holds \(PeerCorpus.cases.count) statements from the rule tests"))
    }
}
