import FlotillaModel
import Testing

/// `pattern:` changes expand into phases: names, gates, reversibility, transactions and the SQL each runs.
@Suite("Pattern expansion")
struct PatternExpansionTests {
    func change(_ pattern: String) throws -> Change {
        try Change.parse("change: 0001_x\npattern:\n  \(pattern)\n", file: "changes/0001_x.yaml")
    }

    func sql(_ text: SQLText?) -> String { text?.sql ?? "" }

    /// name, gate, reversible, transaction of each phase.
    func shape(_ change: Change) -> [String] {
        change.phases.map { phase in
            [
                phase.name, phase.gate == nil ? "-" : "gate", phase.reversible ? "rev" : "final",
                phase.transaction.rawValue, phase.backfill == nil ? "-" : "backfill",
            ].joined(separator: " ")
        }
    }

    @Test("add-column, nullable: one phase that adds the column and drops it on revert")
    func addColumnNullable() throws {
        let change = try change("add-column: {table: users, column: nickname, type: text}")
        #expect(shape(change) == ["expand - rev auto -"])
        let expand = change.phases[0]
        #expect(sql(expand.up).hasSuffix("ALTER TABLE users ADD COLUMN nickname text;"))
        #expect(sql(expand.up).contains("flotilla preflight (add-column): table users does not exist"))
        #expect(sql(expand.up).contains("table users already has a column nickname"))
        #expect(sql(expand.down) == "ALTER TABLE users DROP COLUMN IF EXISTS nickname;")
        #expect(expand.pattern == "add-column")
    }

    @Test("add-column, NOT NULL with a default: add, backfill, CHECK NOT VALID, VALIDATE, SET NOT NULL, drop the check")
    func addColumnNotNull() throws {
        let change = try change(
            "add-column: {table: users, column: locale, type: text, not_null: true, default: \"'en'\"}")
        #expect(
            shape(change) == [
                "expand - rev auto -", "backfill - rev auto backfill", "check - rev auto -", "validate - rev auto -",
                "enforce - rev auto -",
            ])
        let phases = change.phases
        #expect(sql(phases[0].up).hasSuffix("ALTER TABLE users ADD COLUMN locale text DEFAULT 'en';"))
        #expect(phases[1].backfill?.set == "locale = 'en'")
        #expect(phases[1].backfill?.whereClause == "locale IS NULL")
        #expect(sql(phases[1].verify) == "SELECT NOT EXISTS (SELECT FROM users WHERE locale IS NULL)")
        #expect(
            sql(phases[2].up).hasSuffix(
                "ALTER TABLE users ADD CONSTRAINT users_locale_not_null CHECK (locale IS NOT NULL) NOT VALID;"))
        #expect(sql(phases[3].up).hasSuffix("ALTER TABLE users VALIDATE CONSTRAINT users_locale_not_null;"))
        #expect(
            sql(phases[4].up).hasSuffix(
                "ALTER TABLE users ALTER COLUMN locale SET NOT NULL;\nALTER TABLE users DROP CONSTRAINT users_locale_not_null;"
            ))
        #expect(sql(phases[4].down).hasPrefix("ALTER TABLE users ALTER COLUMN locale DROP NOT NULL;"))
        // VALIDATE has nothing of its own to undo; its down is a comment, so a revert passes through it.
        #expect(sql(phases[3].down).hasPrefix("-- nothing to undo"))
        // The alias says NOT NULL by its name.
        let alias = try self.change(
            "add-column-not-null: {table: users, column: locale, type: text, default: \"'en'\"}")
        #expect(alias.phases == change.phases)
    }

    @Test("add-column, NOT NULL with a backfill expression and no default: a gate before the backfill")
    func addColumnNotNullBackfill() throws {
        let change = try change(
            "add-column: {table: users, column: email_lower, type: text, not_null: true, backfill: lower(email)}")
        #expect(shape(change)[1] == "backfill gate rev auto backfill")
        #expect(
            change.phases[1].message?.contains("every release of the application now writes users.email_lower") == true)
        #expect(change.phases[1].backfill?.set == "email_lower = lower(email)")
        // A backfill phase's `up` runs after its batches: here only the gate's comment, which runs nothing.
        #expect(sql(change.phases[1].up).hasPrefix("-- gate: every release"))
        #expect(sql(change.phases[1].up).split(separator: "\n").allSatisfy { $0.hasPrefix("--") })
        // With a backfill the column is added bare, then the default for new rows.
        let both = try self.change(
            "add-column: {table: users, column: score, type: int, not_null: true, default: 0, backfill: length(email)}")
        #expect(
            sql(both.phases[0].up).hasSuffix(
                "ALTER TABLE users ADD COLUMN score int;\nALTER TABLE users ALTER COLUMN score SET DEFAULT 0;"))
        #expect(both.phases[1].gate == nil)
    }

    @Test("rename-column: expand with a two-way sync trigger, backfill, gated irreversible contract")
    func renameColumn() throws {
        let change = try change("rename-column: {table: users, column: phone_number, to: phone, batch_size: 200}")
        #expect(shape(change) == ["expand - rev auto -", "backfill - rev auto backfill", "contract gate final auto -"])
        let up = sql(change.phases[0].up)
        #expect(up.contains("format_type(atttypid, atttypmod)"))
        #expect(up.contains("NEW.phone := NEW.phone_number;"))
        #expect(up.contains("NEW.phone_number := NEW.phone;"))
        #expect(up.contains("CREATE TRIGGER users_phone_number_flotilla_sync BEFORE INSERT OR UPDATE ON users"))
        #expect(
            sql(change.phases[0].down)
                == "DROP TRIGGER IF EXISTS users_phone_number_flotilla_sync ON users;\nDROP FUNCTION IF EXISTS users_phone_number_flotilla_sync();\nALTER TABLE users DROP COLUMN IF EXISTS phone;"
        )
        let backfill = try #require(change.phases[1].backfill)
        #expect(backfill.set == "phone = phone_number")
        #expect(backfill.whereClause == "phone IS DISTINCT FROM phone_number")
        #expect(backfill.batchSize == 200 && backfill.key == "id")
        #expect(
            sql(change.phases[1].verify)
                == "SELECT NOT EXISTS (SELECT FROM users WHERE phone IS DISTINCT FROM phone_number)")
        let contract = change.phases[2]
        #expect(sql(contract.up).hasSuffix("ALTER TABLE users DROP COLUMN phone_number;"))
        #expect(contract.down == nil)
        #expect(contract.message?.contains("no release may still use users.phone_number") == true)
    }

    @Test("drop-column: retire (renamed aside, reversible) and drop, each behind its own gate")
    func dropColumn() throws {
        let change = try change("drop-column: {table: users, column: phone_number}")
        #expect(shape(change) == ["retire gate rev auto -", "drop gate final auto -"])
        #expect(
            change.phases[0].message?.contains(
                "no release of the application may still read or write users.phone_number") == true)
        #expect(
            sql(change.phases[0].up).hasSuffix("ALTER TABLE users RENAME COLUMN phone_number TO phone_number_retired;"))
        #expect(sql(change.phases[0].up).contains("NOT NULL without a default"))
        #expect(sql(change.phases[0].down) == "ALTER TABLE users RENAME COLUMN phone_number_retired TO phone_number;")
        #expect(change.phases[0].ignore.map(\.rule) == ["rename-column"])
        #expect(sql(change.phases[1].up).hasSuffix("ALTER TABLE users DROP COLUMN phone_number_retired;"))
    }

    @Test("change-type: shadow column with a trigger, backfill, switch in one transaction, gated contract")
    func changeType() throws {
        let change = try change("change-type: {table: users, column: score, type: bigint, using: \"score * 10\"}")
        #expect(
            shape(change) == [
                "expand - rev auto -", "backfill - rev auto backfill", "switch - rev auto -",
                "contract gate final auto -",
            ])
        let up = sql(change.phases[0].up)
        #expect(up.contains("ALTER TABLE users ADD COLUMN score_new bigint;"))
        #expect(up.contains("NEW.score_new := (SELECT score * 10 FROM (SELECT NEW.*) AS flotilla_row);"))
        #expect(up.contains("SET search_path FROM CURRENT"))
        #expect(change.phases[1].backfill?.set == "score_new = score * 10")
        #expect(
            sql(change.phases[1].verify)
                == "SELECT NOT EXISTS (SELECT FROM users WHERE score_new IS DISTINCT FROM (score * 10))")
        let switchOver = change.phases[2]
        #expect(
            sql(switchOver.up).contains(
                "ALTER TABLE users RENAME COLUMN score TO score_old;\nALTER TABLE users RENAME COLUMN score_new TO score;"
            ))
        #expect(sql(switchOver.up).contains("NEW.score_old := NEW.score;"))
        #expect(sql(switchOver.down).contains("ALTER TABLE users RENAME COLUMN score_old TO score;"))
        #expect(sql(switchOver.down).contains("NEW.score_new := (SELECT score * 10"))
        #expect(switchOver.ignore.map(\.rule) == ["rename-column"])
        #expect(sql(change.phases[3].up).hasSuffix("ALTER TABLE users DROP COLUMN score_old;"))
        // Without `using`, a cast; `shadow-column` is the same pattern.
        let cast = try self.change("shadow-column: {table: users, column: score, type: bigint, shadow: s2, old: s0}")
        #expect(cast.phases[1].backfill?.set == "s2 = score::bigint")
        #expect(sql(cast.phases[2].up).contains("RENAME COLUMN score TO s0"))
    }

    @Test("add-index: CREATE INDEX CONCURRENTLY outside a transaction, dropped concurrently on revert")
    func addIndex() throws {
        let change = try change("add-index: {table: users, columns: [\"lower(email)\", created_at], unique: true}")
        #expect(shape(change) == ["index - rev none -"])
        let up = sql(change.phases[0].up)
        #expect(
            up.hasSuffix(
                "CREATE UNIQUE INDEX CONCURRENTLY users_lower_email_created_at_key ON users (lower(email), created_at);"
            ))
        #expect(up.contains("table users has no column created_at"))
        #expect(!up.contains("no column lower(email)"))
        #expect(sql(change.phases[0].down) == "DROP INDEX CONCURRENTLY IF EXISTS users_lower_email_created_at_key;")
        let partial = try self.change(
            "add-index: {table: users, columns: email, name: users_live_email, method: hash, where: \"deleted_at IS NULL\"}"
        )
        #expect(
            sql(partial.phases[0].up).hasSuffix(
                "CREATE INDEX CONCURRENTLY users_live_email ON users USING hash (email) WHERE deleted_at IS NULL;"))
    }

    @Test("add-constraint and add-foreign-key: NOT VALID, then VALIDATE in a phase of its own")
    func constraints() throws {
        let check = try change("add-constraint: {table: users, name: users_email_at, check: \"email LIKE '%@%'\"}")
        #expect(shape(check) == ["add - rev auto -", "validate - rev auto -"])
        #expect(
            sql(check.phases[0].up).hasSuffix(
                "ALTER TABLE users ADD CONSTRAINT users_email_at CHECK (email LIKE '%@%') NOT VALID;"))
        #expect(sql(check.phases[0].down) == "ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_at;")
        #expect(sql(check.phases[1].up).hasSuffix("ALTER TABLE users VALIDATE CONSTRAINT users_email_at;"))
        let key = try change(
            "add-foreign-key: {table: orders, columns: user_id, references: users, referenced_columns: [id], on_delete: set null}"
        )
        #expect(
            sql(key.phases[0].up).hasSuffix(
                "ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL NOT VALID;"
            ))
        #expect(sql(key.phases[0].up).contains("table users does not exist"))
        #expect(sql(key.phases[1].up).hasSuffix("ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fkey;"))
    }

    @Test("names are quoted where PostgreSQL needs it; long derived names stay within 63 bytes and distinct")
    func quoting() throws {
        let change = try change("add-column: {table: Order, column: user, type: text}")
        #expect(sql(change.phases[0].up).hasSuffix("ALTER TABLE \"Order\" ADD COLUMN \"user\" text;"))
        #expect(sql(change.phases[0].up).contains("to_regclass('\"Order\"')"))
        let long = String(repeating: "a", count: 40)
        let a = try self.change("rename-column: {table: \(long), column: \(long)x, to: b}")
        let b = try self.change("rename-column: {table: \(long), column: \(long)y, to: b}")
        func trigger(_ change: Change) -> String {
            let up = sql(change.phases[0].up)
            guard let start = up.range(of: "CREATE TRIGGER ")?.upperBound else { return "" }
            return String(up[start...].prefix { $0 != " " })
        }
        #expect(!trigger(a).isEmpty && trigger(a).utf8.count <= 63 && trigger(b).utf8.count <= 63)
        #expect(trigger(a) != trigger(b))
    }

    @Test(
        "every pattern: SQL points at the pattern's name, phases are marked, reversible phases can be reverted",
        arguments: [
            "add-column: {table: users, column: c, type: int, not_null: true, default: 1}",
            "rename-column: {table: users, column: a, to: b}", "drop-column: {table: users, column: a}",
            "change-type: {table: users, column: a, type: bigint}", "add-index: {table: users, columns: a}",
            "add-constraint: {table: users, name: n, check: a > 0}",
            "add-foreign-key: {table: users, columns: a, references: t}",
        ])
    func everyPattern(_ pattern: String) throws {
        let change = try change(pattern)
        #expect(!change.phases.isEmpty)
        for phase in change.phases {
            #expect(phase.location == SourceLocation(file: "changes/0001_x.yaml", line: 3, column: 3))
            for text in [phase.up, phase.down, phase.verify].compactMap({ $0 }) {
                #expect(text.lineOffset == 2 && text.columnOffset == 2, "\(phase.name)")
            }
            #expect(phase.pattern == change.phases[0].pattern && phase.pattern != nil)
            if phase.reversible { #expect(phase.down != nil || phase.backfill != nil, "\(phase.name)") }
            if phase.gate != nil { #expect(phase.message?.isEmpty == false, "\(phase.name)") }
        }
        // The first phase checks the tenant before it changes anything.
        #expect(sql(change.phases[0].up).contains("flotilla preflight ("))
        // The same pattern always expands to the same phases.
        #expect(try self.change(pattern).phases.map(\.checksum) == change.phases.map(\.checksum))
    }

    @Test("the example pattern changes parse into their patterns' phases")
    func examples() throws {
        let expected: [String: [String]] = [
            "0005_users_locale": ["expand", "backfill", "check", "validate", "enforce"],
            "0006_users_email_lower_index": ["index"],
            "0007_users_email_check": ["add", "validate"],
            "0008_users_locale_varchar": ["expand", "backfill", "switch", "contract"],
            "0009_users_signed_up_at": ["expand", "backfill", "contract"],
            "0010_users_referred_by": ["expand"],
            "0011_users_referred_by_fkey": ["add", "validate"],
            "0012_users_drop_email_verification_token": ["retire", "drop"],
        ]
        for (id, phases) in expected {
            let path = "fleets/demo/changes/\(id).yaml"
            let change = try Change.parse(try exampleText(path), file: path)
            #expect(change.id == id)
            #expect(change.phases.map(\.name) == phases, "\(id)")
            #expect(try exampleText(path).split(separator: "\n").filter { !$0.hasPrefix("#") }.count <= 6, "\(id)")
        }
    }
}
