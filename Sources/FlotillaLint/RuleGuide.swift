/// What `docs/rules.md` says about a rule beyond its summary: the safe rewrite, and an example that the
/// linter flags with that rule.
public struct RuleGuide: Sendable, Hashable {
    /// How to do the same change without the risk; for a rule that flags nothing risky, why it is fine.
    public var rewrite: String
    /// SQL whose findings include one of this rule.
    public var example: String
    /// Whether the example runs inside one transaction block (a phase with `transaction: auto`).
    public var inTransaction: Bool

    public init(rewrite: String, example: String, inTransaction: Bool = false) {
        self.rewrite = rewrite
        self.example = example
        self.inTransaction = inTransaction
    }
}

extension RuleDescription {
    /// The rule's guide; every rule of the catalog has one (a test holds it to that).
    public var guide: RuleGuide? { Self.guides[id] }

    static let guides: [String: RuleGuide] = [
        "add-column": RuleGuide(
            rewrite: "Nothing to change: a nullable column, or one whose default is a constant or a stable "
                + "function such as `now()`, is stored once in the catalog.",
            example: "ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT false;"
        ),
        "add-column-not-null-without-default": RuleGuide(
            rewrite: "Add the column nullable (or with a constant DEFAULT), fill it in a backfill phase, then "
                + "`CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT`, `SET NOT NULL` — or the "
                + "`add-column` pattern with `not_null: true`, which does all of that.",
            example: "ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL;"
        ),
        "add-column-volatile-default": RuleGuide(
            rewrite: "Add the column without the default, `ALTER COLUMN … SET DEFAULT` (new rows only), fill the "
                + "existing rows in a backfill phase, then enforce NOT NULL by validation then enforcement.",
            example: "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();"
        ),
        "add-column-unknown-default": RuleGuide(
            rewrite: "Check the function's volatility (`SELECT provolatile FROM pg_proc WHERE proname = …`); if it "
                + "is volatile, do as for `add-column-volatile-default`; if not, acknowledge the finding.",
            example: "ALTER TABLE users ADD COLUMN code text DEFAULT make_code();"
        ),
        "add-column-serial": RuleGuide(
            rewrite: "Add a plain `bigint` column, create the sequence and `SET DEFAULT nextval(…)` for new rows, "
                + "number the existing rows in a backfill phase, then enforce NOT NULL.",
            example: "ALTER TABLE users ADD COLUMN number bigserial;"
        ),
        "add-column-identity": RuleGuide(
            rewrite: "As for serial: a plain column with a sequence default for new rows, a backfill for the old "
                + "ones; `ADD GENERATED … AS IDENTITY` on the filled column afterwards is catalog-only.",
            example: "ALTER TABLE users ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;"
        ),
        "add-column-generated-stored": RuleGuide(
            rewrite: "Add a plain column kept current by a trigger, fill it in a backfill phase; or compute the "
                + "value in a view.",
            example: "ALTER TABLE items ADD COLUMN total numeric GENERATED ALWAYS AS (price * qty) STORED;"
        ),
        "add-column-json": RuleGuide(
            rewrite: "Use `jsonb`: it has an equality operator, is stored parsed and can be indexed. Keep `json` only "
                + "where the exact text (key order, whitespace, duplicate keys) must be kept, and then check that "
                + "no running query uses DISTINCT, UNION or GROUP BY over whole rows of the table.",
            example: "ALTER TABLE users ADD COLUMN settings json;"
        ),
        "alter-column-type": RuleGuide(
            rewrite: "The shadow column pattern (`change-type`): add a column of the new type, keep it in sync "
                + "with a trigger, backfill, switch the names in one short transaction, drop the old column later.",
            example: "ALTER TABLE users ALTER COLUMN id TYPE bigint;"
        ),
        "alter-column-type-compatible": RuleGuide(
            rewrite: "Nothing to change: widening a varchar, or varchar to text, changes the catalog only.",
            example: "ALTER TABLE users ALTER COLUMN bio TYPE text;"
        ),
        "set-not-null": RuleGuide(
            rewrite: "`ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`; `VALIDATE CONSTRAINT c` in a later "
                + "transaction; `SET NOT NULL` (no scan, the check proves it); `DROP CONSTRAINT c`.",
            example: "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"
        ),
        "drop-not-null": RuleGuide(
            rewrite: "Deploy code that handles NULL in the column first, then drop the constraint in its own phase.",
            example: "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;"
        ),
        "drop-default": RuleGuide(
            rewrite: "Make every writer set the column first, then drop the default in a later phase.",
            example: "ALTER TABLE users ALTER COLUMN role DROP DEFAULT;"
        ),
        "rename-column": RuleGuide(
            rewrite: "The alias pattern (`rename-column`): add the new column, keep both in sync with a trigger, "
                + "backfill, move the application to the new name behind an approval gate, drop the old column.",
            example: "ALTER TABLE users RENAME COLUMN email TO email_address;"
        ),
        "drop-column": RuleGuide(
            rewrite: "The deprecation pattern (`drop-column`): stop reading and writing the column, deploy, then "
                + "drop it in a phase behind `gate: approval`.",
            example: "ALTER TABLE users DROP COLUMN legacy;"
        ),
        "rename-table": RuleGuide(
            rewrite: "The alias pattern: in the same transaction as the rename, `CREATE VIEW old AS SELECT * FROM "
                + "new` (simple views are updatable); move the application to the new name; drop the view later.",
            example: "ALTER TABLE users RENAME TO accounts;"
        ),
        "drop-table": RuleGuide(
            rewrite: "The deprecation pattern: stop using the table, deploy, then drop it behind an approval gate "
                + "(or rename it aside first so a revert is possible).",
            example: "DROP TABLE legacy_events;"
        ),
        "drop-schema": RuleGuide(
            rewrite: "The deprecation pattern: stop using its objects, deploy, then drop it behind an approval gate.",
            example: "DROP SCHEMA reporting CASCADE;"
        ),
        "rename-schema": RuleGuide(
            rewrite: "No online path. Tenant schemas belong to the fleet definition, not to a change; to move "
                + "objects, use `ALTER TABLE … SET SCHEMA` with the alias pattern.",
            example: "ALTER SCHEMA tenant_acme RENAME TO tenant_acme_old;"
        ),
        "drop-database": RuleGuide(
            rewrite: "The deprecation pattern: stop using the database, take its tenant out of the fleet, then drop "
                + "it outside the rollout.",
            example: "DROP DATABASE tenant_acme;"
        ),
        "detach-partition": RuleGuide(
            rewrite: "`ALTER TABLE … DETACH PARTITION … CONCURRENTLY` (PostgreSQL 14+) in a phase with "
                + "`transaction: none`; if it is interrupted, finish it with `DETACH PARTITION … FINALIZE`.",
            example: "ALTER TABLE events DETACH PARTITION events_2023;"
        ),
        "truncate": RuleGuide(
            rewrite: "The deprecation pattern: stop reading and writing the data, then remove it behind an approval "
                + "gate, or DELETE it in batches in a backfill phase.",
            example: "TRUNCATE audit_log;"
        ),
        "table-rewrite": RuleGuide(
            rewrite: "No online path inside a rollout: a plain VACUUM, or pg_repack outside it; or copy into a new "
                + "table and switch with the alias pattern.",
            example: "VACUUM FULL users;"
        ),
        "add-check-constraint": RuleGuide(
            rewrite: "`ADD CONSTRAINT c CHECK (…) NOT VALID`, then `VALIDATE CONSTRAINT c` in a later phase "
                + "(or the `add-constraint` pattern).",
            example: "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0);"
        ),
        "add-foreign-key": RuleGuide(
            rewrite: "`ADD CONSTRAINT fk FOREIGN KEY (…) REFERENCES … NOT VALID`, then `VALIDATE CONSTRAINT fk` in "
                + "a later phase (or the `add-foreign-key` pattern).",
            example: "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);"
        ),
        "add-constraint-not-valid": RuleGuide(
            rewrite: "Nothing to change; follow it with `VALIDATE CONSTRAINT` in a later phase or transaction.",
            example: "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;"
        ),
        "validate-constraint": RuleGuide(
            rewrite: "Nothing to change: it scans under SHARE UPDATE EXCLUSIVE, which blocks neither reads nor writes.",
            example: "ALTER TABLE orders VALIDATE CONSTRAINT positive;"
        ),
        "validate-constraint-in-transaction": RuleGuide(
            rewrite: "Move `VALIDATE CONSTRAINT` to a later phase, or commit between the ADD and the VALIDATE.",
            example: """
                ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;
                ALTER TABLE orders VALIDATE CONSTRAINT positive;
                """,
            inTransaction: true
        ),
        "add-unique-constraint": RuleGuide(
            rewrite: "`CREATE UNIQUE INDEX CONCURRENTLY i ON t (…)` in a phase with `transaction: none`, then "
                + "`ADD CONSTRAINT k UNIQUE USING INDEX i`.",
            example: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);"
        ),
        "add-primary-key": RuleGuide(
            rewrite: "Make the columns NOT NULL by validation then enforcement, `CREATE UNIQUE INDEX CONCURRENTLY`, "
                + "then `ADD CONSTRAINT pk PRIMARY KEY USING INDEX i`.",
            example: "ALTER TABLE users ADD PRIMARY KEY (id);"
        ),
        "add-constraint-using-index": RuleGuide(
            rewrite: "Nothing to change: the index was built concurrently and is adopted as it is.",
            example: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;"
        ),
        "add-primary-key-using-index": RuleGuide(
            rewrite: "Make the index's columns NOT NULL first (`CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE "
                + "CONSTRAINT`, `SET NOT NULL`); then adopting the index is catalog-only. Flotilla rates it low when "
                + "the change itself did that.",
            example: "ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_id_idx;"
        ),
        "add-exclusion-constraint": RuleGuide(
            rewrite: "No online path: a maintenance window, or a new table with the constraint filled in a "
                + "backfill phase and switched in with the alias pattern.",
            example: "ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);"
        ),
        "drop-constraint": RuleGuide(
            rewrite: "Make sure no code relies on the guarantee (or on the index of a UNIQUE / PRIMARY KEY), then "
                + "drop it in a phase of its own.",
            example: "ALTER TABLE users DROP CONSTRAINT users_email_key;"
        ),
        "alter-domain-add-constraint": RuleGuide(
            rewrite: "Put the check on the columns instead: `ALTER TABLE … ADD CONSTRAINT … CHECK (…) NOT VALID` on "
                + "each table, then `VALIDATE CONSTRAINT` in a later phase. Before PostgreSQL 18 even a domain's "
                + "`VALIDATE CONSTRAINT` blocks writes.",
            example: "ALTER DOMAIN positive_int ADD CONSTRAINT positive CHECK (VALUE > 0);"
        ),
        "create-domain-with-constraint": RuleGuide(
            rewrite: "Create the domain unconstrained and put the CHECK on each column as a table constraint, which "
                + "can later be changed with NOT VALID and VALIDATE CONSTRAINT.",
            example: "CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);"
        ),
        "rename-enum-value": RuleGuide(
            rewrite: "`ALTER TYPE … ADD VALUE 'new'`, make the application accept both and write the new label, "
                + "UPDATE the rows in a backfill phase, then stop accepting the old one.",
            example: "ALTER TYPE mood RENAME VALUE 'sad' TO 'unhappy';"
        ),
        "create-index": RuleGuide(
            rewrite: "`CREATE INDEX CONCURRENTLY` in a phase with `transaction: none` (or the `add-index` pattern).",
            example: "CREATE INDEX users_email_idx ON users (email);"
        ),
        "create-index-concurrently": RuleGuide(
            rewrite: "Nothing to change; if a build fails it leaves an INVALID index to drop before retrying "
                + "(the `add-index` pattern does that).",
            example: "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);"
        ),
        "drop-index": RuleGuide(
            rewrite: "`DROP INDEX CONCURRENTLY` in a phase with `transaction: none`.",
            example: "DROP INDEX users_email_idx;"
        ),
        "drop-index-concurrently": RuleGuide(
            rewrite: "Nothing to change.",
            example: "DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;"
        ),
        "reindex": RuleGuide(
            rewrite: "`REINDEX … CONCURRENTLY` in a phase with `transaction: none`.",
            example: "REINDEX INDEX users_email_idx;"
        ),
        "reindex-concurrently": RuleGuide(
            rewrite: "Nothing to change.",
            example: "REINDEX TABLE CONCURRENTLY users;"
        ),
        "concurrently-in-transaction": RuleGuide(
            rewrite: "Put the statement in its own phase with `transaction: none`, outside BEGIN … COMMIT.",
            example: "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);",
            inTransaction: true
        ),
        "no-transaction-block": RuleGuide(
            rewrite: "Run it in a phase with `transaction: none`, outside BEGIN … COMMIT.",
            example: "VACUUM users;",
            inTransaction: true
        ),
        "transaction-shape": RuleGuide(
            rewrite: "One BEGIN and one COMMIT around the statements that belong together — or none at all, since "
                + "Flotilla already runs each phase in a transaction of its own (`transaction: auto`).",
            example: """
                BEGIN;
                ALTER TABLE users ADD COLUMN nickname text;
                """
        ),
        "transaction-control-in-phase": RuleGuide(
            rewrite: "Remove the BEGIN and COMMIT: with `transaction: auto` Flotilla already runs the phase's `up`, "
                + "its `verify` and the ledger row in one transaction. Statements that must not share it go in a "
                + "phase of their own, with `transaction: none` where PostgreSQL refuses a transaction block.",
            example: """
                ALTER TABLE users ADD COLUMN nickname text;
                COMMIT;
                """,
            inTransaction: true
        ),
        "unbatched-update": RuleGuide(
            rewrite: "A `backfill:` phase (`table`, `set`, `where`, `batch_size`, `pause`): small batches, each in "
                + "its own transaction, resumable.",
            example: "UPDATE users SET active = true;"
        ),
        "statement": RuleGuide(
            rewrite: "Nothing to change.",
            example: "CREATE TABLE invoices (id bigint PRIMARY KEY, total numeric(10,2));"
        ),
        "ignore-without-reason": RuleGuide(
            rewrite: "Write `-- flotilla:ignore RULE why this is safe here`.",
            example: """
                -- flotilla:ignore drop-column
                ALTER TABLE users DROP COLUMN legacy;
                """
        ),
        "ignore-unknown-rule": RuleGuide(
            rewrite: "Name a rule of this page.",
            example: """
                -- flotilla:ignore drop-collumn it was never read
                ALTER TABLE users DROP COLUMN legacy;
                """
        ),
    ]
}
