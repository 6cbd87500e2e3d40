import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// The journal: schema `flotilla` in the control database — rollouts, steps (one row per phase × tenant), events.
public struct ControlStore: Sendable {
    public static let schemaVersion = 1
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static let migrations: [String] = [
        "CREATE SCHEMA IF NOT EXISTS flotilla",
        "CREATE TABLE IF NOT EXISTS flotilla.schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        """
        CREATE TABLE IF NOT EXISTS flotilla.rollouts (
            id text PRIMARY KEY,
            fleet text NOT NULL,
            change text NOT NULL,
            policy text NOT NULL,
            state text NOT NULL,
            current_phase text,
            current_wave text,
            reason text,
            approved_phases text[] NOT NULL DEFAULT '{}',
            plan jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS flotilla.steps (
            rollout_id text NOT NULL REFERENCES flotilla.rollouts(id) ON DELETE CASCADE,
            phase text NOT NULL,
            phase_index integer NOT NULL,
            wave text NOT NULL,
            wave_index integer NOT NULL,
            tenant text NOT NULL,
            shard text NOT NULL,
            state text NOT NULL DEFAULT 'pending',
            attempts integer NOT NULL DEFAULT 0,
            sqlstate text,
            error text,
            checkpoint bigint,
            started_at timestamptz,
            finished_at timestamptz,
            duration_ms integer,
            PRIMARY KEY (rollout_id, phase, tenant)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS flotilla.events (
            id bigserial PRIMARY KEY,
            rollout_id text NOT NULL,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            kind text NOT NULL,
            phase text,
            wave text,
            tenant text,
            message text NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS events_rollout ON flotilla.events (rollout_id, id)",
        """
        CREATE TABLE IF NOT EXISTS flotilla.halts (
            id bigserial PRIMARY KEY,
            fleet text,
            reason text NOT NULL,
            halted_by text NOT NULL,
            halted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            revert boolean NOT NULL DEFAULT false,
            lifted_at timestamptz,
            lifted_by text
        )
        """,
        "CREATE INDEX IF NOT EXISTS halts_active ON flotilla.halts (fleet) WHERE lifted_at IS NULL",
        "ALTER TABLE flotilla.rollouts ADD COLUMN IF NOT EXISTS lease_owner text",
        "ALTER TABLE flotilla.rollouts ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz",
        "ALTER TABLE flotilla.rollouts ADD COLUMN IF NOT EXISTS current_slice text",
        "ALTER TABLE flotilla.steps ADD COLUMN IF NOT EXISTS owner text",
        "ALTER TABLE flotilla.steps ADD COLUMN IF NOT EXISTS claimed_until timestamptz",
        // The worker slot of its coordinator that claimed a step: the caps count busy slots (`claimSteps`).
        "ALTER TABLE flotilla.steps ADD COLUMN IF NOT EXISTS slot integer",
        "ALTER TABLE flotilla.rollouts ADD COLUMN IF NOT EXISTS claim_wanted_at timestamptz",
        // The steps still to do, in the order workers claim them: a claim reads only these, not every step done.
        """
        CREATE INDEX IF NOT EXISTS steps_open ON flotilla.steps (rollout_id, phase, wave, tenant)
        WHERE state IN ('pending', 'running')
        """,
        // What a rollout is for (`RolloutKind`), and the rollout a retry runs again.
        "ALTER TABLE flotilla.rollouts ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'rollout'",
        "ALTER TABLE flotilla.rollouts ADD COLUMN IF NOT EXISTS parent_id text",
        // The tenant set a rollout started with: resume, revert, workers and status read it, never the fleet of now.
        """
        CREATE TABLE IF NOT EXISTS flotilla.rollout_tenants (
            rollout_id text NOT NULL REFERENCES flotilla.rollouts(id) ON DELETE CASCADE,
            position integer NOT NULL,
            tenant text NOT NULL,
            shard text NOT NULL,
            schema_name text,
            database_name text,
            labels jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (rollout_id, tenant),
            CHECK ((schema_name IS NULL) <> (database_name IS NULL))
        )
        """,
        // The index of one unfinished rollout per (fleet, change), from before kinds, gives way to the one per kind.
        "DROP INDEX IF EXISTS flotilla.rollouts_one_unfinished",
        // One unfinished rollout per (fleet, change, kind): two coordinators starting the same change at once share
        // it, while a converge or a retry of the change may run beside its rollout.
        // (A store that already holds two unfinished rollouts of one change keeps working without the index and says
        // so; the next migration adds it once one of them is finished or reverted.)
        """
        DO $$ BEGIN
            CREATE UNIQUE INDEX IF NOT EXISTS rollouts_one_unfinished_per_kind ON flotilla.rollouts (fleet, change, kind)
            WHERE state NOT IN ('done', 'reverted');
        EXCEPTION WHEN unique_violation THEN
            RAISE WARNING 'flotilla: two unfinished rollouts of one change exist; finish or revert one of them';
        END $$
        """,
        "INSERT INTO flotilla.schema_version (version) VALUES (1) ON CONFLICT DO NOTHING",
    ]

    /// Creates or upgrades the control schema. Idempotent; serialized by an advisory lock.
    public func migrate() async throws {
        try await runMigrations(Self.migrations + Self.auditTables)
    }

    /// Runs schema statements in order under the migration lock, so that coordinators starting together do not race.
    func runMigrations(_ statements: [String]) async throws {
        try await client.withConnection { connection in
            try await SQLRunner.execute(
                "SELECT pg_advisory_lock(hashtext('flotilla:migrate'))", on: connection, logger: logger)
            do {
                for statement in statements {
                    try await SQLRunner.execute(statement, on: connection, logger: logger)
                }
            } catch {
                try? await SQLRunner.execute(
                    "SELECT pg_advisory_unlock(hashtext('flotilla:migrate'))", on: connection, logger: logger)
                throw error
            }
            try await SQLRunner.execute(
                "SELECT pg_advisory_unlock(hashtext('flotilla:migrate'))", on: connection, logger: logger)
        }
    }

    // MARK: rollouts

    public struct RolloutRecord: Sendable, Hashable, Codable {
        public var id: String
        public var fleet: String
        public var change: String
        public var policy: String
        public var state: RolloutState
        public var currentPhase: String?
        public var currentWave: String?
        public var reason: String?
        public var approvedPhases: [String]
        public var createdAt: Date
        public var updatedAt: Date
        /// What the rollout is for: a rollout, a converge or a retry.
        public var kind: RolloutKind = .rollout
        /// For a retry: the rollout whose tenants it runs again.
        public var parentID: String? = nil
    }

    static let rolloutColumns =
        "id, fleet, change, policy, state, current_phase, current_wave, reason, approved_phases, created_at, updated_at, kind, parent_id"

    func decodeRollouts(_ rows: PostgresRowSequence) async throws -> [RolloutRecord] {
        var result: [RolloutRecord] = []
        for try await row in rows {
            let (id, fleet, change, policy, state, phase, wave, reason, approved, created, updated, kind, parent) =
                try row.decode(
                    (
                        String, String, String, String, RolloutState, String?, String?, String?, [String], Date, Date,
                        RolloutKind, String?
                    ).self)
            result.append(
                RolloutRecord(
                    id: id, fleet: fleet, change: change, policy: policy, state: state, currentPhase: phase,
                    currentWave: wave, reason: reason, approvedPhases: approved, createdAt: created, updatedAt: updated,
                    kind: kind, parentID: parent)
            )
        }
        return result
    }

    /// The newest rollout of this kind of this change on this fleet that has not finished.
    public func unfinishedRollout(fleet: String, change: String, kind: RolloutKind = .rollout) async throws
        -> RolloutRecord?
    {
        let rows = try await client.query(
            "SELECT \(unescaped: Self.rolloutColumns) FROM flotilla.rollouts WHERE fleet = \(fleet) AND change = \(change) AND kind = \(kind) AND state NOT IN ('done', 'reverted') ORDER BY created_at DESC LIMIT 1",
            logger: logger)
        return try await decodeRollouts(rows).first
    }

    /// The newest rollout of this kind of this change on this fleet, finished or not.
    public func latestRollout(fleet: String, change: String, kind: RolloutKind = .rollout) async throws
        -> RolloutRecord?
    {
        let rows = try await client.query(
            "SELECT \(unescaped: Self.rolloutColumns) FROM flotilla.rollouts WHERE fleet = \(fleet) AND change = \(change) AND kind = \(kind) ORDER BY created_at DESC LIMIT 1",
            logger: logger)
        return try await decodeRollouts(rows).first
    }

    public func rollout(id: String) async throws -> RolloutRecord? {
        let rows = try await client.query(
            "SELECT \(unescaped: Self.rolloutColumns) FROM flotilla.rollouts WHERE id = \(id)", logger: logger)
        return try await decodeRollouts(rows).first
    }

    public func rollouts(limit: Int = 20) async throws -> [RolloutRecord] {
        let rows = try await client.query(
            "SELECT \(unescaped: Self.rolloutColumns) FROM flotilla.rollouts ORDER BY created_at DESC LIMIT \(limit)",
            logger: logger)
        return try await decodeRollouts(rows)
    }

    /// Creates a rollout and its tenant snapshot (`flotilla.rollout_tenants`) in one transaction. `approvedPhases`
    /// carries approvals over (a retry runs its parent's approved gates without asking again).
    func createRollout(
        id: String, fleet: String, change: String, policy: String, planJSON: String, kind: RolloutKind = .rollout,
        parent: String? = nil, tenants: [Tenant] = [], approvedPhases: [String] = []
    ) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO flotilla.rollouts (id, fleet, change, policy, state, plan, kind, parent_id, approved_phases)
                VALUES (\(id), \(fleet), \(change), \(policy), \(RolloutState.running), \(planJSON)::jsonb, \(kind),
                    \(parent), \(approvedPhases)::text[])
                """,
                logger: logger
            ).collect()
            try await insertTenantSnapshot(id, tenants: tenants, on: connection)
        }
    }

    /// Moves a rollout to `state`, if `RolloutState`'s table allows it from the state it is in — checked in the
    /// statement that writes it. Throws `IllegalTransition` otherwise.
    func setState(
        _ rollout: String, _ state: RolloutState, phase: String? = nil, wave: String? = nil, reason: String? = nil
    )
        async throws
    {
        let (from, to) = RolloutState.transitions
        let rows = try await client.query(
            """
            WITH current AS (SELECT state FROM flotilla.rollouts WHERE id = \(rollout)),
            moved AS (
                UPDATE flotilla.rollouts SET state = \(state), current_phase = COALESCE(\(phase), current_phase),
                    current_wave = \(wave), reason = \(reason), updated_at = now(),
                    finished_at = CASE WHEN \(state.isFinished) THEN now() ELSE NULL END
                WHERE id = \(rollout) AND (state, \(state)::text) IN (SELECT * FROM unnest(\(from)::text[], \(to)::text[]))
                RETURNING 1
            )
            SELECT (SELECT state FROM current), EXISTS (SELECT 1 FROM moved)
            """, logger: logger)
        for try await (current, moved) in rows.decode((RolloutState?, Bool).self) {
            guard let current, !moved else { return }
            throw IllegalTransition(subject: .rollout(id: rollout, from: current, to: state))
        }
    }

    /// Records an approval of a gated phase. Returns false when there is no such rollout.
    public func approve(_ rollout: String, phase: String) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE flotilla.rollouts SET approved_phases = array_append(approved_phases, \(phase)), updated_at = now()
            WHERE id = \(rollout) AND NOT (\(phase) = ANY(approved_phases)) RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return try await self.rollout(id: rollout) != nil
    }

    // MARK: steps

    public struct StepRecord: Sendable, Hashable, Codable {
        public var phase: String
        public var wave: String
        public var tenant: String
        public var shard: String
        public var state: StepState
        public var attempts: Int
        public var sqlState: String?
        public var error: String?
        public var checkpoint: Int64?
        public var durationMilliseconds: Int?
    }

    /// Creates the pending step rows of a phase (idempotent).
    func seedSteps(
        _ rollout: String, phase: String, phaseIndex: Int,
        waves: [(name: String, index: Int, tenants: [(String, String)])]
    )
        async throws
    {
        var tenants: [String] = []
        var shards: [String] = []
        var waveNames: [String] = []
        var waveIndexes: [Int] = []
        for wave in waves {
            for (tenant, shard) in wave.tenants {
                tenants.append(tenant)
                shards.append(shard)
                waveNames.append(wave.name)
                waveIndexes.append(wave.index)
            }
        }
        try await client.query(
            """
            INSERT INTO flotilla.steps (rollout_id, phase, phase_index, wave, wave_index, tenant, shard)
            SELECT \(rollout), \(phase), \(phaseIndex), w, wi, t, s
            FROM unnest(\(waveNames)::text[], \(waveIndexes)::int[], \(tenants)::text[], \(shards)::text[]) AS u(w, wi, t, s)
            ON CONFLICT (rollout_id, phase, tenant) DO NOTHING
            """, logger: logger)
        // A tenant quarantined by an earlier phase of this rollout gets none of the later ones: its steps are
        // quarantined too, naming the phase that quarantined it, so no worker ever claims them.
        try await client.query(
            """
            UPDATE flotilla.steps s
            SET state = 'quarantined', error = 'quarantined in phase ' || q.phase, finished_at = now()
            FROM (
                SELECT DISTINCT ON (tenant) tenant, phase FROM flotilla.steps
                WHERE rollout_id = \(rollout) AND state = 'quarantined' AND phase_index < \(phaseIndex)
                ORDER BY tenant, phase_index
            ) q
            WHERE s.rollout_id = \(rollout) AND s.phase = \(phase) AND s.tenant = q.tenant
              AND s.state IN ('pending', 'failed')
              AND \(StepState.pending.canMove(to: .quarantined) && StepState.failed.canMove(to: .quarantined))
            """, logger: logger)
    }

    public func steps(_ rollout: String, phase: String? = nil) async throws -> [StepRecord] {
        let rows = try await client.query(
            """
            SELECT phase, wave, tenant, shard, state, attempts, sqlstate, error, checkpoint, duration_ms
            FROM flotilla.steps WHERE rollout_id = \(rollout) AND (\(phase)::text IS NULL OR phase = \(phase))
            ORDER BY phase_index, wave_index, tenant
            """, logger: logger)
        var result: [StepRecord] = []
        for try await row in rows {
            let (phase, wave, tenant, shard, state, attempts, sqlState, error, checkpoint, duration) = try row.decode(
                (String, String, String, String, StepState, Int, String?, String?, Int64?, Int?).self)
            result.append(
                StepRecord(
                    phase: phase, wave: wave, tenant: tenant, shard: shard, state: state, attempts: attempts,
                    sqlState: sqlState, error: error, checkpoint: checkpoint, durationMilliseconds: duration))
        }
        return result
    }

    func stepStarted(_ rollout: String, phase: String, tenant: String) async throws {
        try await moveStep(
            rollout, phase: phase, tenant: tenant, to: .running, started: true, durationMilliseconds: nil,
            sqlState: nil, error: nil, owner: nil)
    }

    /// Records how a step ended. With `owner`, only while the step is still that coordinator's claim (a step put
    /// back after an interruption must not overwrite another coordinator's newer claim).
    func stepFinished(
        _ rollout: String, phase: String, tenant: String, state: StepState, durationMilliseconds: Int?,
        sqlState: String? = nil, error: String? = nil, owner: String? = nil
    ) async throws {
        try await moveStep(
            rollout, phase: phase, tenant: tenant, to: state, started: false,
            durationMilliseconds: durationMilliseconds, sqlState: sqlState, error: error, owner: owner)
    }

    /// Moves one step to `state` if `StepState`'s table allows it, checked in the statement that writes it. A step
    /// that is another coordinator's claim now (when `owner` is given) is left alone; any other refusal throws
    /// `IllegalTransition` naming the step.
    private func moveStep(
        _ rollout: String, phase: String, tenant: String, to state: StepState, started: Bool,
        durationMilliseconds: Int?, sqlState: String?, error: String?, owner: String?
    ) async throws {
        let (from, to) = StepState.transitions
        let rows = try await client.query(
            """
            WITH current AS (
                SELECT state, owner FROM flotilla.steps
                WHERE rollout_id = \(rollout) AND phase = \(phase) AND tenant = \(tenant)
            ), moved AS (
                UPDATE flotilla.steps SET state = \(state),
                    attempts = attempts + CASE WHEN \(started) THEN 1 ELSE 0 END,
                    started_at = CASE WHEN \(started) THEN now() ELSE started_at END,
                    finished_at = CASE WHEN \(started) THEN finished_at ELSE now() END,
                    duration_ms = CASE WHEN \(started) THEN duration_ms ELSE \(durationMilliseconds) END,
                    sqlstate = \(sqlState), error = \(error)
                WHERE rollout_id = \(rollout) AND phase = \(phase) AND tenant = \(tenant)
                  AND (\(owner)::text IS NULL OR owner IS NULL OR owner = \(owner))
                  AND (state, \(state)::text) IN (SELECT * FROM unnest(\(from)::text[], \(to)::text[]))
                RETURNING 1
            )
            SELECT (SELECT state FROM current), (SELECT owner FROM current), EXISTS (SELECT 1 FROM moved)
            """, logger: logger)
        for try await (current, holder, moved) in rows.decode((StepState?, String?, Bool).self) {
            guard let current, !moved else { return }
            if let owner, let holder, holder != owner { return }
            throw IllegalTransition(
                subject: .step(rollout: rollout, phase: phase, tenant: tenant, from: current, to: state))
        }
    }

    /// One step's outcome, written with others in one statement (`finishSteps`).
    struct StepOutcome: Sendable {
        var tenant: String
        var state: StepState
        var durationMilliseconds: Int? = nil
        var sqlState: String? = nil
        var error: String? = nil
        /// Tries beyond the first (lock timeouts retried with backoff): added to the step's `attempts`.
        var retries = 0
    }

    /// Writes the outcomes of steps this coordinator claimed, in one statement: only steps still running under its
    /// claim move (a claim that expired and was taken by another coordinator is theirs now), and only as
    /// `StepState`'s table allows. Returns the tenants whose step moved.
    @discardableResult
    func finishSteps(_ rollout: String, phase: String, owner: String, _ outcomes: [StepOutcome]) async throws
        -> Set<String>
    {
        if outcomes.isEmpty { return [] }
        let (from, to) = StepState.transitions
        let tenants = outcomes.map(\.tenant)
        let states = outcomes.map(\.state.rawValue)
        let durations = outcomes.map { $0.durationMilliseconds ?? -1 }
        let sqlStates = outcomes.map { $0.sqlState ?? "" }
        let errors = outcomes.map { $0.error ?? "" }
        let retries = outcomes.map(\.retries)
        let rows = try await client.query(
            """
            UPDATE flotilla.steps s SET state = u.state, finished_at = now(), duration_ms = NULLIF(u.duration, -1),
                sqlstate = NULLIF(u.sqlstate, ''), error = NULLIF(u.error, ''), claimed_until = NULL,
                attempts = s.attempts + u.retries
            FROM unnest(
                \(tenants)::text[], \(states)::text[], \(durations)::int[], \(sqlStates)::text[], \(errors)::text[],
                \(retries)::int[]
            ) AS u(tenant, state, duration, sqlstate, error, retries)
            WHERE s.rollout_id = \(rollout) AND s.phase = \(phase) AND s.tenant = u.tenant
              AND s.owner = \(owner) AND s.state = 'running'
              AND (s.state, u.state) IN (SELECT * FROM unnest(\(from)::text[], \(to)::text[]))
            RETURNING s.tenant
            """, logger: logger)
        var moved: Set<String> = []
        for try await tenant in rows.decode(String.self) { moved.insert(tenant) }
        return moved
    }

    // MARK: events

    public struct EventRecord: Sendable, Hashable, Codable {
        public var at: Date
        public var kind: String
        public var phase: String?
        public var wave: String?
        public var tenant: String?
        public var message: String
    }

    func event(
        _ rollout: String, _ kind: String, phase: String? = nil, wave: String? = nil, tenant: String? = nil,
        _ message: String
    )
        async throws
    {
        try await client.query(
            "INSERT INTO flotilla.events (rollout_id, kind, phase, wave, tenant, message) VALUES (\(rollout), \(kind), \(phase), \(wave), \(tenant), \(message))",
            logger: logger)
    }

    public func events(_ rollout: String, limit: Int = 1000) async throws -> [EventRecord] {
        let rows = try await client.query(
            "SELECT at, kind, phase, wave, tenant, message FROM flotilla.events WHERE rollout_id = \(rollout) ORDER BY id LIMIT \(limit)",
            logger: logger)
        var result: [EventRecord] = []
        for try await (at, kind, phase, wave, tenant, message) in rows.decode(
            (Date, String, String?, String?, String?, String).self)
        {
            result.append(EventRecord(at: at, kind: kind, phase: phase, wave: wave, tenant: tenant, message: message))
        }
        return result
    }
}
