import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Every pattern on a real PostgreSQL, across a fleet of three schema tenants (a canary, then the rest), with pgbench
/// writing the tables under change the whole time: the rollout runs (to its gate, or to the end), the data is checked
/// while the traffic goes on, then the rollout's own revert (`flotilla revert`) restores the old shape. The
/// workload must see no failed transaction, and every value it wrote must still be there.
@Suite("Patterns under live traffic", .serialized)
struct PatternRolloutTests {
    @Test(
        "add-column NOT NULL: added, backfilled from an expression, enforced without a long lock; reverted",
        .timeLimit(.minutes(10)))
    func addColumnNotNull() async throws {
        try await PatternRig.exercise(
            "add_column",
            pattern:
                "add-column: {table: users, column: domain, type: text, not_null: true, default: \"''\", backfill: \"split_part(email, '@', 2)\", batch_size: 500}",
            column: "score", value: ":v", stopsAt: nil,
            applied: { (rig: PatternRig, schema: String) throws in
                #expect(
                    try rig.query(
                        schema,
                        "SELECT is_nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'domain'"
                    ) == "NO")
                // Every row that existed has the backfill expression; rows written since the expand have the default.
                #expect(
                    try rig.query(
                        schema,
                        "SELECT count(*) FROM users WHERE id <= \(PatternTenants.rows) AND domain IS DISTINCT FROM split_part(email, '@', 2)"
                    ) == "0")
                #expect(
                    try rig.query(
                        schema, "SELECT count(*) FROM users WHERE domain NOT IN ('', split_part(email, '@', 2))") == "0"
                )
                #expect(
                    try rig.query(schema, "SELECT count(*) FROM pg_constraint WHERE conname = 'users_domain_not_null'")
                        == "0")
            },
            reverted: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.columnType(schema, "domain") == nil)
            })
    }

    @Test(
        "rename-column: both names in sync both ways under writes, the old shape back after revert",
        .timeLimit(.minutes(10)))
    func renameColumn() async throws {
        try await PatternRig.exercise(
            "rename_column", pattern: "rename-column: {table: users, column: phone_number, to: phone, batch_size: 500}",
            column: "phone_number", value: "'+1-' || :v", stopsAt: "contract",
            applied: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.columnType(schema, "phone") == "text")
                #expect(
                    try rig.query(schema, "SELECT count(*) FROM users WHERE phone IS DISTINCT FROM phone_number") == "0"
                )
                // A release that already uses the new name: the old one follows, on insert and on update.
                let id = try rig.query(
                    schema, "INSERT INTO users (email, phone) VALUES ('alias@example.com', '+1-alias') RETURNING id")
                #expect(try rig.query(schema, "SELECT phone_number FROM users WHERE id = \(id)") == "+1-alias")
                _ = try rig.query(schema, "UPDATE users SET phone = '+1-renamed' WHERE id = \(id)")
                #expect(try rig.query(schema, "SELECT phone_number FROM users WHERE id = \(id)") == "+1-renamed")
            },
            reverted: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.columnType(schema, "phone") == nil)
                #expect(
                    try rig.query(schema, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%flotilla_sync'") == "0")
                #expect(
                    try rig.query(schema, "SELECT phone_number FROM users WHERE email = 'alias@example.com'")
                        == "+1-renamed")
            })
    }

    @Test(
        "drop-column: retired behind its gate (gone for every query), brought back with its data by revert",
        .timeLimit(.minutes(10)))
    func dropColumn() async throws {
        let fingerprint =
            "SELECT md5(string_agg(coalesce(phone_number, '-'), ',' ORDER BY id)) FROM users WHERE id <= \(PatternTenants.rows)"
        let before = LockedBox<String>([:])
        try await PatternRig.exercise(
            "drop_column", pattern: "drop-column: {table: users, column: phone_number}", column: "score", value: ":v",
            approvals: ["retire"], stopsAt: "drop",
            before: { (rig: PatternRig, schema: String) throws in before.set(schema, try rig.query(schema, fingerprint))
            },
            applied: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.columnType(schema, "phone_number") == nil)
                #expect(try rig.columnType(schema, "phone_number_retired") == "text")
            },
            reverted: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.columnType(schema, "phone_number_retired") == nil)
                #expect(try rig.query(schema, fingerprint) == before.get(schema))
            })
    }

    @Test(
        "change-type: the shadow column equals `using` of the old for every row, switched in, reverted",
        .timeLimit(.minutes(10)))
    func changeType() async throws {
        try await PatternRig.exercise(
            "change_type",
            pattern:
                "change-type: {table: users, column: phone_number, type: varchar(40), using: \"left(phone_number, 40)\", batch_size: 500}",
            column: "phone_number", value: "'+1-' || :v", stopsAt: "contract",
            applied: { (rig: PatternRig, schema: String) throws in
                // After the switch phone_number is the new column; phone_number_old is the old one, kept in sync.
                #expect(try rig.columnType(schema, "phone_number") == "character varying")
                #expect(try rig.columnType(schema, "phone_number_old") == "text")
                #expect(
                    try rig.query(
                        schema,
                        "SELECT count(*) FROM users WHERE phone_number IS DISTINCT FROM left(phone_number_old, 40)")
                        == "0")
            },
            reverted: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.columnType(schema, "phone_number") == "text")
                #expect(try rig.columnType(schema, "phone_number_new") == nil)
                #expect(try rig.columnType(schema, "phone_number_old") == nil)
            })
    }

    @Test(
        "add-index: built concurrently (an INVALID leftover rebuilt), dropped concurrently by revert",
        .timeLimit(.minutes(10)))
    func addIndex() async throws {
        let valid =
            "SELECT coalesce(string_agg(i.indisvalid::text, ','), 'none') FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'users_email_lower_idx' AND c.relnamespace = current_schema()::regnamespace"
        try await PatternRig.exercise(
            "add_index", pattern: "add-index: {table: users, columns: [\"lower(email)\"], name: users_email_lower_idx}",
            column: "score", value: ":v", stopsAt: nil,
            before: { (rig: PatternRig, schema: String) throws in
                guard schema == "tenant_t1" else { return }
                // A failed try leaves an INVALID index behind.
                _ = try rig.query(schema, "INSERT INTO users (id, email) VALUES (-1, 'USER1@example.com')")
                #expect(throws: PsqlError.self) {
                    try rig.query(
                        schema, "CREATE UNIQUE INDEX CONCURRENTLY users_email_lower_idx ON users (lower(email))")
                }
                _ = try rig.query(schema, "DELETE FROM users WHERE id = -1")
                #expect(try rig.query(schema, valid) == "false")
            },
            applied: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.query(schema, valid) == "true")
            },
            reverted: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.query(schema, valid) == "none")
            })
    }

    @Test("add-constraint: NOT VALID then VALIDATE under writes; dropped by revert", .timeLimit(.minutes(10)))
    func addConstraint() async throws {
        let state =
            "SELECT coalesce(string_agg(convalidated::text, ','), 'none') FROM pg_constraint WHERE conname = 'users_score_not_negative' AND connamespace = current_schema()::regnamespace"
        try await PatternRig.exercise(
            "add_constraint",
            pattern: "add-constraint: {table: users, name: users_score_not_negative, check: \"score >= 0\"}",
            column: "score", value: ":v", stopsAt: nil,
            applied: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.query(schema, state) == "true")
            },
            reverted: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.query(schema, state) == "none")
            })
    }

    @Test(
        "add-foreign-key: NOT VALID then VALIDATE while orders are placed; dropped by revert", .timeLimit(.minutes(10)))
    func addForeignKey() async throws {
        let state =
            "SELECT coalesce(string_agg(convalidated::text || ':' || contype::text, ','), 'none') FROM pg_constraint WHERE conname = 'orders_user_id_fkey' AND connamespace = current_schema()::regnamespace"
        try await PatternRig.exercise(
            "add_foreign_key", pattern: "add-foreign-key: {table: orders, columns: user_id, references: users}",
            column: "score", value: ":v", stopsAt: nil,
            applied: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.query(schema, state) == "true:f")
            },
            reverted: { (rig: PatternRig, schema: String) throws in
                #expect(try rig.query(schema, state) == "none")
            })
    }
}

extension PatternRolloutTests {
    @Test(
        "rename-column to the end: the application moves to the new name at the gate, then the contract runs",
        .timeLimit(.minutes(10)))
    func renameColumnToTheEnd() async throws {
        let rig = try await PatternRig.make("rename_end")
        let change = try parseChange(
            "change: 0001_rename\npattern:\n  rename-column: {table: users, column: phone_number, to: phone}\n")
        func traffic(_ column: String) throws -> LiveTraffic {
            LiveTraffic(
                url: rig.shard,
                scripts: try rig.schemas.map {
                    try PatternTenants.workload(schema: $0, column: column, value: "'+1-' || :v")
                })
        }
        // The release that knows only phone_number, until the gate.
        let (gate, old) = try await traffic("phone_number").during { try await rig.rollout(change) }
        guard case .awaitingApproval(let id, "contract") = gate else {
            Issue.record("expected to wait at contract, got \(gate)")
            return
        }
        // The release that uses phone: approved, and the contract drops phone_number under its traffic.
        let (done, new) = try await traffic("phone").during {
            _ = try await rig.rig.withEngine { _, store, _ in try await store.approve(id, phase: "contract") }
            return try await rig.rollout(change)
        }
        #expect(done == .done(rollout: id))
        #expect(old.failed == 0 && new.failed == 0, "before the gate: \(old); after: \(new)")
        for schema in rig.schemas {
            #expect(try rig.columnType(schema, "phone_number") == nil)
            #expect(try rig.columnType(schema, "phone") == "text")
            #expect(try rig.query(schema, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%flotilla_sync'") == "0")
            #expect(try PatternTenants.lostWrites(rig.shard, schema: schema, column: "phone") == "0|0", "\(schema)")
        }
    }

    @Test("change-type to the end: switch and contract under the same traffic", .timeLimit(.minutes(10)))
    func changeTypeToTheEnd() async throws {
        let rig = try await PatternRig.make("change_end")
        let change = try parseChange(
            "change: 0001_score\npattern:\n  change-type: {table: users, column: score, type: bigint, using: \"score::bigint\"}\n"
        )
        let traffic = LiveTraffic(
            url: rig.shard,
            scripts: try rig.schemas.map { try PatternTenants.workload(schema: $0, column: "score", value: ":v") })
        let (done, report) = try await traffic.during {
            guard case .awaitingApproval(let id, "contract") = try await rig.rollout(change) else {
                return RolloutOutcome.halted(rollout: "", reason: "did not wait at the contract gate")
            }
            _ = try await rig.rig.withEngine { _, store, _ in try await store.approve(id, phase: "contract") }
            return try await rig.rollout(change)
        }
        guard case .done = done else {
            Issue.record("expected done, got \(done)")
            return
        }
        #expect(report.failed == 0, "\(report)")
        for schema in rig.schemas {
            #expect(try rig.columnType(schema, "score") == "bigint")
            #expect(try rig.columnType(schema, "score_old") == nil && rig.columnType(schema, "score_new") == nil)
            // The old column's default moved to the new one.
            #expect(
                try rig.query(
                    schema,
                    "SELECT column_default FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'score'"
                ) == "0")
            #expect(try PatternTenants.lostWrites(rig.shard, schema: schema, column: "score") == "0|0", "\(schema)")
        }
    }
}

/// A fleet of three schema tenants on one shard for a pattern test, its control store, and the steps of a test.
struct PatternRig: Sendable {
    let shard: ConnectionURL
    let rig: Rig
    let schemas: [String]
    let policy: Policy

    static let policyYAML = """
        policy: patterns
        waves:
          - {name: canary, select: {labels: {tier: internal}}}
          - {name: rest, select: {remaining: true}}
        parallel: 2
        per_shard_parallel: 2
        lock_timeout: 500ms
        statement_timeout: 1m
        retries: {attempts: 10, backoff: 100ms}
        on_failure: revert
        """

    static func make(_ name: String) async throws -> PatternRig {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "pat_\(name)")
        let tenants = (1...3).map { n in
            schemaTenant("t\(n)", shard: "a", labels: ["tier": n == 1 ? "internal" : "free"])
        }
        try PatternTenants.create(shard, schemas: tenants.map(\.placement.name))
        let fleet = makeFleet(name: "patterns-\(name)", shards: [("a", shard)], tenants: tenants)
        return PatternRig(
            shard: shard, rig: try await Rig(fleet: fleet), schemas: tenants.map(\.placement.name),
            policy: try parsePolicy(policyYAML))
    }

    func query(_ schema: String, _ sql: String) throws -> String {
        try psql(shard, "SET search_path = \(schema); " + sql)
    }

    func columnType(_ schema: String, _ column: String) throws -> String? {
        try TenantProbe(shard: shard, schema: schema).columnType(column)
    }

    func rollout(_ change: Change) async throws -> RolloutOutcome {
        try await rig.rollout(change, policy, options: RolloutEngine.Options(waitForApproval: false))
    }

    /// Runs a pattern as a change under live traffic: before (per tenant), the rollout (approving `approvals` on the
    /// way) up to the gate `stopsAt` (nil: to the end), `applied` (per tenant), the revert, `reverted` (per tenant).
    static func exercise(
        _ name: String, pattern: String, column: String, value: String, approvals: [String] = [], stopsAt: String?,
        before: @escaping @Sendable (PatternRig, String) throws -> Void = { _, _ in },
        applied: @escaping @Sendable (PatternRig, String) throws -> Void,
        reverted: @escaping @Sendable (PatternRig, String) throws -> Void
    ) async throws {
        let rig = try await make(name)
        for schema in rig.schemas { try before(rig, schema) }
        let change = try parseChange("change: 0001_\(name)\npattern:\n  \(pattern)\n")
        let traffic = LiveTraffic(
            url: rig.shard,
            scripts: try rig.schemas.map { try PatternTenants.workload(schema: $0, column: column, value: value) })
        let (_, report) = try await traffic.during {
            var outcome = try await rig.rollout(change)
            for phase in approvals {
                guard case .awaitingApproval(let id, phase) = outcome else {
                    Issue.record("expected to wait for approval of \(phase), got \(outcome)")
                    return
                }
                _ = try await rig.rig.withEngine { _, store, _ in try await store.approve(id, phase: phase) }
                outcome = try await rig.rollout(change)
            }
            let id: String
            switch (outcome, stopsAt) {
            case (.done(let rollout), nil): id = rollout
            case (.awaitingApproval(let rollout, let phase), let gate?) where phase == gate: id = rollout
            default:
                Issue.record("expected \(stopsAt.map { "to wait at \($0)" } ?? "done"), got \(outcome)")
                return
            }
            for schema in rig.schemas { try applied(rig, schema) }
            let policy = rig.policy
            let revert = try await rig.rig.withEngine { engine, _, _ in
                try await engine.revert(rollout: id, change: change, policy: policy)
            }
            guard case .reverted(let report) = revert else {
                Issue.record("expected reverted, got \(revert)")
                return
            }
            #expect(report.phases.allSatisfy { $0.tenantCount == 3 }, "\(report)")
            for schema in rig.schemas {
                try reverted(rig, schema)
                let ledger = try TenantProbe(shard: rig.shard, schema: schema).liveLedger(change: change.id)
                #expect(ledger.isEmpty, "\(schema): \(ledger)")
            }
        }
        #expect(report.failed == 0, "\(name): \(report)")
        #expect(report.transactions >= 100, "\(name): \(report)")
        for schema in rig.schemas {
            #expect(try PatternTenants.lostWrites(rig.shard, schema: schema, column: column) == "0|0", "\(schema)")
        }
        print("pattern \(name) under pgbench: \(report)")
    }
}

/// A dictionary shared by a test's closures.
final class LockedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Value] = [:]

    init(_ values: [String: Value]) { self.values = values }

    func set(_ key: String, _ value: Value) { lock.withLock { values[key] = value } }
    func get(_ key: String) -> Value? { lock.withLock { values[key] } }
}
