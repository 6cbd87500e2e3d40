import FlotillaPostgres
import Foundation
import PostgresNIO

/// Coordination through PostgreSQL: a lease per rollout (owner, expiry, heartbeat) and tenant steps claimed with
/// `FOR UPDATE SKIP LOCKED` under the global and per-shard caps, so several coordinators can work one rollout.
extension ControlStore {
    public struct ClaimedStep: Sendable, Hashable {
        public var tenant: String
        public var shard: String
    }

    /// Takes or renews the lease of a rollout. False when another live coordinator holds it.
    public func acquireLease(_ rollout: String, owner: String, ttl: Duration) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE flotilla.rollouts SET lease_owner = \(owner),
                lease_expires_at = clock_timestamp() + make_interval(secs => \(Double(ttl.milliseconds) / 1000))
            WHERE id = \(rollout) AND (lease_owner IS NULL OR lease_owner = \(owner) OR lease_expires_at < clock_timestamp())
            RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    public func releaseLease(_ rollout: String, owner: String) async throws {
        try await client.query(
            "UPDATE flotilla.rollouts SET lease_owner = NULL, lease_expires_at = NULL WHERE id = \(rollout) AND lease_owner = \(owner)",
            logger: logger)
    }

    /// The slice of the fleet the rollout's leader works on now; workers join it.
    func setCurrentSlice(_ rollout: String, phase: String, wave: String, shard: String?) async throws {
        try await client.query(
            """
            UPDATE flotilla.rollouts SET current_phase = \(phase), current_wave = \(wave), current_slice = \(shard),
                updated_at = now() WHERE id = \(rollout)
            """, logger: logger)
    }

    public struct WorkItem: Sendable {
        public var rollout: String
        public var change: String
        public var policy: String
        public var phase: String
        public var wave: String
        public var shard: String?
    }

    /// Running rollouts of a fleet whose leader is alive, with the slice it works on.
    public func openWork(fleet: String) async throws -> [WorkItem] {
        let rows = try await client.query(
            """
            SELECT id, change, policy, current_phase, current_wave, current_slice FROM flotilla.rollouts
            WHERE fleet = \(fleet) AND state = 'running' AND lease_expires_at > clock_timestamp()
              AND current_phase IS NOT NULL AND current_wave IS NOT NULL
            ORDER BY created_at
            """, logger: logger)
        var items: [WorkItem] = []
        for try await (id, change, policy, phase, wave, shard) in rows.decode(
            (String, String, String, String, String, String?).self)
        {
            items.append(WorkItem(rollout: id, change: change, policy: policy, phase: phase, wave: wave, shard: shard))
        }
        return items
    }

    /// Claims up to `limit` steps of a slice for one of this coordinator's worker slots, if the caps allow: at most
    /// `parallel` slots busy in the rollout and the shard's cap on each shard, counted over every coordinator (a slot
    /// runs its claimed steps one after another, so busy slots bound the steps running at once). The steps come
    /// from one shard — the first in tenant order with room — in tenant order. A step whose claim expired (its
    /// coordinator died) is claimable again.
    ///
    /// Batches shrink as the slice empties (about `open / cap` per slot) and to one step while another coordinator
    /// waits for room (`claim_wanted_at`), so coordinators sharing a rollout interleave; a coordinator that finds no
    /// room for its claim says so there.
    func claimSteps(
        _ rollout: String, phase: String, wave: String, shard: String?, owner: String, slot: Int, limit: Int,
        parallel: Int, shardCaps: [String: Int], claimTTL: Duration
    ) async throws -> [ClaimedStep] {
        let shards = shardCaps.keys.sorted()
        let caps = shards.map { shardCaps[$0] ?? 1 }
        let seconds = Double(claimTTL.milliseconds) / 1000
        let (from, to) = StepState.transitions
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtext(\("flotilla:claim:" + rollout)))", logger: logger
            )
            .collect()
            let rows = try await connection.query(
                """
                WITH slots AS (
                    SELECT DISTINCT shard, owner, COALESCE(slot, 0) AS slot FROM flotilla.steps
                    WHERE rollout_id = \(rollout) AND state = 'running' AND claimed_until > clock_timestamp()
                      AND NOT (owner = \(owner) AND COALESCE(slot, 0) = \(slot))
                ), busy AS (
                    SELECT shard, count(*) AS n FROM slots GROUP BY shard
                ), caps AS (
                    SELECT * FROM unnest(\(shards)::text[], \(caps)::int[]) AS c(shard, cap)
                ), open AS (
                    SELECT c.rollout_id, c.phase, c.tenant, c.shard FROM flotilla.steps c
                    WHERE c.rollout_id = \(rollout) AND c.phase = \(phase) AND c.wave = \(wave)
                      AND (\(shard)::text IS NULL OR c.shard = \(shard))
                      AND (c.state = 'pending' OR (c.state = 'running' AND c.claimed_until < clock_timestamp()))
                ), target AS (
                    SELECT o.shard, caps.cap FROM open o JOIN caps ON caps.shard = o.shard
                    WHERE COALESCE((SELECT n FROM busy WHERE busy.shard = o.shard), 0) < caps.cap
                      AND (SELECT count(*) FROM (SELECT DISTINCT owner, slot FROM slots) s) < \(parallel)
                    ORDER BY o.tenant LIMIT 1
                ), size AS (
                    SELECT CASE
                        WHEN (SELECT claim_wanted_at > clock_timestamp() - interval '2 seconds'
                              FROM flotilla.rollouts WHERE id = \(rollout)) THEN 1
                        ELSE GREATEST(1, LEAST(\(limit),
                            (SELECT count(*) FROM open WHERE shard = (SELECT shard FROM target))
                                / GREATEST(1, (SELECT cap FROM target))))
                    END AS n
                ), next AS (
                    SELECT c.rollout_id, c.phase, c.tenant FROM flotilla.steps c
                    WHERE c.rollout_id = \(rollout) AND c.phase = \(phase) AND c.wave = \(wave)
                      AND c.shard = (SELECT shard FROM target)
                      AND (c.state = 'pending' OR (c.state = 'running' AND c.claimed_until < clock_timestamp()))
                      AND (c.state, 'running') IN (SELECT * FROM unnest(\(from)::text[], \(to)::text[]))
                    ORDER BY c.tenant
                    LIMIT (SELECT n FROM size)
                    FOR UPDATE OF c SKIP LOCKED
                )
                UPDATE flotilla.steps s SET state = 'running', owner = \(owner), slot = \(slot),
                    claimed_until = clock_timestamp() + make_interval(secs => \(seconds)),
                    attempts = s.attempts + 1, started_at = now(), error = NULL, sqlstate = NULL
                FROM next WHERE s.rollout_id = next.rollout_id AND s.phase = next.phase AND s.tenant = next.tenant
                RETURNING s.tenant, s.shard
                """, logger: logger)
            var claimed: [ClaimedStep] = []
            for try await (tenant, shard) in rows.decode((String, String).self) {
                claimed.append(ClaimedStep(tenant: tenant, shard: shard))
            }
            claimed.sort { $0.tenant < $1.tenant }
            return claimed
        }
    }

    /// Says that a coordinator waits for room in a rollout's caps: for two seconds, claims take one step at a time,
    /// so it gets its turn.
    func wantClaim(_ rollout: String) async throws {
        try await client.query(
            "UPDATE flotilla.rollouts SET claim_wanted_at = clock_timestamp() WHERE id = \(rollout)", logger: logger)
    }

    /// Keeps alive the claims of the steps this coordinator's workers are running now (`tenants`), and no others.
    func renewClaims(_ rollout: String, owner: String, tenants: [String], claimTTL: Duration) async throws {
        try await client.query(
            """
            UPDATE flotilla.steps SET claimed_until = clock_timestamp() + make_interval(secs => \(Double(claimTTL.milliseconds) / 1000))
            WHERE rollout_id = \(rollout) AND owner = \(owner) AND state = 'running' AND tenant = ANY(\(tenants)::text[])
            """, logger: logger)
    }

    /// Coordinators named in a rollout's lease or claims: `host:pid:nonce`.
    func owners(_ rollout: String) async throws -> [String] {
        let rows = try await client.query(
            """
            SELECT lease_owner FROM flotilla.rollouts WHERE id = \(rollout) AND lease_owner IS NOT NULL
            UNION SELECT DISTINCT owner FROM flotilla.steps
            WHERE rollout_id = \(rollout) AND state = 'running' AND owner IS NOT NULL
            """, logger: logger)
        var owners: [String] = []
        for try await owner in rows.decode(String.self) { owners.append(owner) }
        return owners
    }

    /// Frees what a coordinator that is known dead held: its lease at once, and its running steps back to pending
    /// (whatever it had committed in a tenant is in that tenant's ledger, so nothing is applied twice).
    func releaseDeadOwner(_ rollout: String, owner: String) async throws {
        try await client.query(
            """
            UPDATE flotilla.rollouts SET lease_owner = NULL, lease_expires_at = NULL
            WHERE id = \(rollout) AND lease_owner = \(owner)
            """, logger: logger)
        try await client.query(
            """
            UPDATE flotilla.steps SET state = 'pending', owner = NULL, claimed_until = NULL,
                error = 'interrupted: its coordinator (' || \(owner) || ') died'
            WHERE rollout_id = \(rollout) AND owner = \(owner) AND state = 'running'
              AND \(StepState.running.canMove(to: .pending))
            """, logger: logger)
    }

    /// Runs a journal read or write, trying again while the control store is briefly away (a restart, a failover):
    /// up to `limit`, with a short pause between tries. Other errors are thrown at once.
    public func retrying<T: Sendable>(limit: Duration = .seconds(15), _ body: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let started = clock.now
        while true {
            do {
                return try await body()
            } catch {
                guard Self.isTransient(error), clock.now - started < limit, !Task.isCancelled else { throw error }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// An error that did not come from the server answering the statement — a lost session, or the pool's own
    /// errors while it has no working connection — or a server going away (57P01…): worth another try.
    static func isTransient(_ error: any Error) -> Bool {
        if error is CancellationError { return false }
        if let error = error as? PSQLError, error.serverInfo != nil { return DatabaseFailure(error).isConnectionLoss }
        return true
    }

    /// Steps of a slice that are not finished: pending, or running under anyone's claim.
    func unfinishedSteps(_ rollout: String, phase: String, wave: String, shard: String?) async throws -> Int {
        let rows = try await client.query(
            """
            SELECT count(*)::int FROM flotilla.steps
            WHERE rollout_id = \(rollout) AND phase = \(phase) AND wave = \(wave)
              AND (\(shard)::text IS NULL OR shard = \(shard)) AND state IN ('pending', 'running')
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Failed steps of a slice go back to pending when a rollout is resumed.
    func retryFailed(_ rollout: String, phase: String, wave: String) async throws {
        try await client.query(
            "UPDATE flotilla.steps SET state = 'pending' WHERE rollout_id = \(rollout) AND phase = \(phase) AND wave = \(wave) AND state = 'failed' AND \(StepState.failed.canMove(to: .pending))",
            logger: logger)
    }
}
