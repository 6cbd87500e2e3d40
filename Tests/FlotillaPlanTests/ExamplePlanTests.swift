import FlotillaModel
import FlotillaPlan
import Foundation
import Testing

@Suite("Plans of the examples")
struct ExamplePlanTests {
    static func demo() throws -> Fleet {
        try Fleet.parse(exampleText("fleets/demo/fleet.yaml"), file: "fleets/demo/fleet.yaml", environment: [:])
    }
    static func policy(_ name: String) throws -> Policy {
        try Policy.parse(exampleText("policies/\(name).yaml"), file: "policies/\(name).yaml")
    }
    static func change(_ id: String) throws -> Change {
        try Change.parse(exampleText("fleets/demo/changes/\(id).yaml"), file: "fleets/demo/changes/\(id).yaml")
    }

    /// What `plan` shows for the backfill of 0002_email_verified: the statements the engine runs, apply and revert.
    static let emailVerifiedBackfill = """
        -- Each batch is this one statement, hence one transaction: it updates the next rows in key order and saves
        -- the last key done in the tenant's flotilla_backfill (public.flotilla_backfill in a tenant's own database,
        -- as here; in its schema for a tenant in a schema), so a resume continues after it. Batches repeat until one
        -- updates no row, 20ms apart (longer while sessions wait on a batch's row locks); the checkpoint is forgotten
        -- once the phase is recorded.
        -- Binds: $1 last key done (the checkpoint; the smallest bigint at first), $2 batch size (at most 1000,
        -- smaller while batches hold their row locks too long), $3 change, $4 phase, $5 direction ('apply'), $6
        -- rollout id.
        WITH batch AS (
            UPDATE "users" SET email_verified = true
            WHERE "id" = ANY (ARRAY(SELECT "id" FROM "users" WHERE "id" > $1 AND (email_verification_token IS NULL) ORDER BY "id" LIMIT $2 FOR UPDATE))
            RETURNING "id"
        ), done AS (
            SELECT max("id")::bigint AS last, count(*)::bigint AS n FROM batch
        ), saved AS (
            INSERT INTO public.flotilla_backfill AS c (change, phase, direction, last_key, rows, rollout_id)
            SELECT $3, $4, $5, last, n, $6 FROM done WHERE n > 0
            ON CONFLICT (change, phase, direction) DO UPDATE SET last_key = EXCLUDED.last_key,
                rows = c.rows + EXCLUDED.rows, rollout_id = EXCLUDED.rollout_id, updated_at = clock_timestamp()
            RETURNING 1
        )
        SELECT last, n,
            (SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid)))::bigint,
            (SELECT count(*) FROM saved)::bigint
        FROM done
        -- Revert: before the phase's down, batches like these set the phase's revert on every row (no where), with
        -- the same binds but $5 direction ('revert') and a checkpoint of their own.
        WITH batch AS (
            UPDATE "users" SET email_verified = false
            WHERE "id" = ANY (ARRAY(SELECT "id" FROM "users" WHERE "id" > $1 ORDER BY "id" LIMIT $2 FOR UPDATE))
            RETURNING "id"
        ), done AS (
            SELECT max("id")::bigint AS last, count(*)::bigint AS n FROM batch
        ), saved AS (
            INSERT INTO public.flotilla_backfill AS c (change, phase, direction, last_key, rows, rollout_id)
            SELECT $3, $4, $5, last, n, $6 FROM done WHERE n > 0
            ON CONFLICT (change, phase, direction) DO UPDATE SET last_key = EXCLUDED.last_key,
                rows = c.rows + EXCLUDED.rows, rollout_id = EXCLUDED.rollout_id, updated_at = clock_timestamp()
            RETURNING 1
        )
        SELECT last, n,
            (SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid)))::bigint,
            (SELECT count(*) FROM saved)::bigint
        FROM done
        """

    @Test(
        "every example policy (fast and standard among them) puts every demo tenant in exactly one wave",
        arguments: policyNames)
    func everyTenantOnce(_ name: String) throws {
        let fleet = try Self.demo()
        let (plan, diagnostics) = WavePlanner.plan(fleet: fleet, policy: try Self.policy(name))
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(plan.tenantIDs.count == 60)
        #expect(Set(plan.tenantIDs) == Set(fleet.tenants.map(\.id)))
        for tenant in fleet.tenants { #expect(plan.wave(of: tenant.id) != nil) }
    }

    @Test("fast and standard: canary, pilot, rest; the canary is the internal tier", arguments: ["fast", "standard"])
    func threeWaves(_ name: String) throws {
        let (plan, _) = WavePlanner.plan(fleet: try Self.demo(), policy: try Self.policy(name))
        #expect(plan.waves.map(\.name) == ["canary", "pilot", "rest"])
        #expect(plan.waves[0].tenants == ["acme", "globex", "initech"])
    }

    @Test("fast: canary = internal, pilot = the pilot tier, the rest one shard at a time")
    func fast() throws {
        let (plan, _) = WavePlanner.plan(fleet: try Self.demo(), policy: try Self.policy("fast"))
        #expect(plan.waves[1].tenants == (1...9).map { "p0\($0)" })
        #expect(plan.waves[2].tenants.count == 48)
        #expect(plan.waves[2].by == "shard")
        #expect(plan.waves[2].slices.map(\.shard) == ["pg-a", "pg-b", "pg-c"])
        #expect(plan.waves[2].slices.map(\.tenants.count) == [16, 16, 16])
        #expect(plan.waves[2].slices[0].tenants.prefix(2) == ["t0001", "t0004"])
        #expect(plan.waves.map(\.bakeMilliseconds) == [1000, 1000, 500])
    }

    @Test("standard: pilot = ceil(10% of 60) = 6 tenants, the first untaken in fleet order")
    func standard() throws {
        let (plan, _) = WavePlanner.plan(fleet: try Self.demo(), policy: try Self.policy("standard"))
        #expect(plan.waves[1].tenants == ["p01", "p02", "p03", "p04", "p05", "p06"])
        #expect(plan.waves[2].tenants.count == 51)
        #expect(plan.waves[2].slices.map(\.tenants.count) == [17, 17, 17])
        #expect(plan.waves.map(\.bakeMilliseconds) == [30_000, 60_000, 60_000])
    }

    @Test("RolloutPlan of 0002 with standard: caps, phases, warnings; JSON has the documented keys")
    func rolloutPlan() throws {
        let plan = try RolloutPlan.make(
            fleet: try Self.demo(), change: try Self.change("0002_email_verified"), policy: try Self.policy("standard"))
        #expect(plan.fleet == "demo" && plan.change == "0002_email_verified" && plan.policy == "standard")
        #expect(plan.tenantCount == 60 && plan.shards == ["pg-a", "pg-b", "pg-c"])
        #expect(plan.caps.parallel == 16 && plan.caps.perShard == ["pg-a": 4, "pg-b": 4, "pg-c": 4])
        #expect(plan.caps.lockTimeoutMilliseconds == 2000 && plan.caps.statementTimeoutMilliseconds == 600_000)
        #expect(plan.caps.retryAttempts == 3 && plan.caps.retryBackoffMilliseconds == 1000)
        #expect(plan.phases.map(\.name) == ["expand", "backfill", "contract"])
        #expect(plan.phases.map(\.reversible) == [true, true, false])
        #expect(plan.phases[2].gate == "approval")
        #expect(plan.phases[1].backfill == Self.emailVerifiedBackfill)
        #expect(plan.phases.allSatisfy { $0.checksum.count == 64 })
        #expect(Set(plan.phases.map(\.checksum)).count == 3)
        #expect(plan.onFailure == "revert" && plan.failureBudget == "per wave 0, total 0")
        #expect(plan.checks == ["users-readable (tenant)"])
        #expect(plan.warnings.count == 1)
        #expect(plan.warnings.first?.contains("phase 'contract' has no 'down'") == true)

        let json = PlanRenderer.json(plan)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "fleet", "change", "policy", "tenant_count", "shards", "caps", "waves", "phases", "on_failure",
                "failure_budget", "checks", "warnings",
            ])
        let caps = try #require(object["caps"] as? [String: Any])
        #expect(
            Set(caps.keys) == [
                "parallel", "per_shard", "lock_timeout_ms", "statement_timeout_ms", "retry_attempts",
                "retry_backoff_ms",
            ])
        let waves = try #require(object["waves"] as? [[String: Any]])
        #expect(Set(waves[0].keys).isSuperset(of: ["name", "number", "bake_ms", "tenants", "slices"]))
        #expect(waves.map { $0["name"] as? String } == ["canary", "pilot", "rest"])
        let decoded = try JSONDecoder().decode(RolloutPlan.self, from: Data(json.utf8))
        #expect(decoded == plan)
    }

    @Test("the text rendering names the fleet, the waves and the phases")
    func text() throws {
        let plan = try RolloutPlan.make(
            fleet: try Self.demo(), change: try Self.change("0002_email_verified"), policy: try Self.policy("fast"))
        let text = PlanRenderer.text(plan)
        #expect(
            text.hasPrefix("Plan: change 0002_email_verified on fleet demo (60 tenants on 3 shards) with policy fast"))
        #expect(text.contains("  1. canary: 3 tenants, bake 1s"))
        #expect(text.contains("  3. rest: 48 tenants, bake 500ms, one shard at a time"))
        #expect(text.contains("     pg-a: t0001, t0004"))
        #expect(text.contains("… and 4 more"))
        #expect(text.contains("  3. contract (gate: approval, not reversible)"))
        #expect(text.contains("lock_timeout 2s, statement_timeout 1m, 3 attempts 200ms apart"))
        // The backfill's statements, each line in the column after the label.
        let backfill = Self.emailVerifiedBackfill.split(separator: "\n", omittingEmptySubsequences: false)
        let shown =
            ["  2. backfill (reversible)", "     backfill: " + backfill[0]]
            + backfill.dropFirst().map { String(repeating: " ", count: 15) + $0 }
        #expect(text.contains(shown.joined(separator: "\n") + "\n  3. contract"))
    }

    @Test("every demo change plans with every example policy", arguments: demoChangeIDs, policyNames)
    func everyChange(_ change: String, _ policy: String) throws {
        let plan = try RolloutPlan.make(
            fleet: try Self.demo(), change: try Self.change(change), policy: try Self.policy(policy))
        #expect(plan.waves.flatMap(\.tenants).count == 60)
        #expect(PlanRenderer.json(plan) == PlanRenderer.json(plan))
    }
}
