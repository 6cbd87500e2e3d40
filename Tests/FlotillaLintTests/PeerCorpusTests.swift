import FlotillaLint
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
    var inTransaction = false
    /// Why Flotilla differs from peers that agree with each other; required for every such statement.
    var disagreement: String?

    var testDescription: String { sql }

    /// The peers' shared verdict: every peer with an opinion says the same, and at least one has one.
    var consensus: PeerVerdict? {
        let opinions = [squawk, strongMigrations, eugene].filter { $0 != .none }
        guard let first = opinions.first, opinions.allSatisfy({ $0 == first }) else { return nil }
        return first
    }

    /// Whether Flotilla says the same as the consensus: flagged means at least medium.
    var agrees: Bool {
        guard let consensus else { return true }
        return (flotilla >= .medium) == (consensus == .flags)
    }

    func flotillaRisk() -> Risk? {
        Linter().lint(LintInput(file: "corpus.sql", sql: sql, inTransaction: inTransaction)).map(\.risk).max()
    }
}

/// Statements from the rule examples of squawk (`squawk-linter` rule tests and docs), strong_migrations (its README's
/// checks, written as the SQL the Rails methods run) and eugene (its hint examples E1–E16, W12–W14), with each verdict.
///
/// Left out: rules about style rather than rollout risk (squawk's prefer-text-field, prefer-bigint-over-int,
/// prefer-timestamptz, prefer-robust-stmts, ban-char-field; eugene's E12 "several ALTER TABLE where one would do"),
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
            flotilla: .low,
            disagreement: "json has no equality operator, so a running SELECT DISTINCT or UNION over the table's "
                + "columns fails once the column exists; Flotilla judges locks, rewrites and names, and adding a "
                + "nullable column of any type is catalog-only. A rule for it would be a style rule here."),
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
            squawk: .none, strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
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
        PeerCase(
            sql: "CREATE TABLE invoices (id bigint PRIMARY KEY, total numeric(10,2))", squawk: .accepts,
            strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
        PeerCase(
            sql: "CREATE TABLE invoices (id bigint PRIMARY KEY);\nCREATE INDEX invoices_id_idx ON invoices (id);",
            squawk: .accepts, strongMigrations: .accepts, eugene: .accepts, flotilla: .low),
    ]

    /// The statements where the peers with an opinion agree with each other.
    static var consensusCases: [PeerCase] { cases.filter { $0.consensus != nil } }

    /// Agreement on those statements, as a percentage rounded down to a whole number.
    static var agreementPercent: Int {
        let consensus = consensusCases
        return consensus.filter(\.agrees).count * 100 / max(consensus.count, 1)
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

    /// The figure README.md states.
    @Test func agreementIsAsStated() {
        #expect(PeerCorpus.cases.count >= 50)
        #expect(PeerCorpus.consensusCases.count == 48)
        #expect(PeerCorpus.consensusCases.filter(\.agrees).count == 43)
        #expect(PeerCorpus.agreementPercent == 89)
    }
}
