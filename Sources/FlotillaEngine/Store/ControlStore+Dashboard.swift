import Foundation
import PostgresNIO

/// An event of the journal (`flotilla.events`) with its id: the ids only grow, so a reader that remembers the last
/// one it saw can ask for what came after (the dashboard's event stream, resumed with `Last-Event-ID`).
public struct JournalEvent: Sendable, Hashable, Codable {
    public var id: Int64
    public var rollout: String
    public var at: Date
    public var kind: String
    public var phase: String?
    public var wave: String?
    public var tenant: String?
    public var message: String

    public init(
        id: Int64, rollout: String, at: Date, kind: String, phase: String?, wave: String?, tenant: String?,
        message: String
    ) {
        self.id = id
        self.rollout = rollout
        self.at = at
        self.kind = kind
        self.phase = phase
        self.wave = wave
        self.tenant = tenant
        self.message = message
    }
}

/// What the journal says since a reader's last look: new events, the step counts of every unfinished rollout and the
/// active halts, each as a short text that changes whenever they do.
public struct JournalTick: Sendable, Hashable {
    public var events: [JournalEvent]
    /// Per unfinished rollout: `state count` pairs of its steps, as `applied 3,pending 7`.
    public var progress: [String: String]
    /// The ids of the active halts, as `3,5` (empty when none).
    public var halts: String
}

/// How far one rollout has come: its steps by state.
public struct RolloutProgress: Sendable, Hashable, Codable {
    public var total: Int
    public var applied: Int
    public var running: Int
    public var failed: Int
    public var quarantined: Int
    public var reverted: Int

    public init(
        total: Int = 0, applied: Int = 0, running: Int = 0, failed: Int = 0, quarantined: Int = 0, reverted: Int = 0
    ) {
        self.total = total
        self.applied = applied
        self.running = running
        self.failed = failed
        self.quarantined = quarantined
        self.reverted = reverted
    }
}

/// Read-only queries of the dashboard (`flotilla serve`).
extension ControlStore {
    /// The id of the newest event of the journal (0 when it has none).
    public func latestEventID() async throws -> Int64 {
        let rows = try await client.query("SELECT coalesce(max(id), 0)::bigint FROM flotilla.events", logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        return 0
    }

    /// Events with an id above `after`, oldest first, at most `limit`; only rollout `rollout`'s when given.
    public func journalEvents(after: Int64, rollout: String? = nil, limit: Int = 500) async throws -> [JournalEvent] {
        let rows = try await client.query(
            """
            SELECT id, rollout_id, at, kind, phase, wave, tenant, message FROM flotilla.events
            WHERE id > \(after) AND (\(rollout)::text IS NULL OR rollout_id = \(rollout))
            ORDER BY id LIMIT \(limit)
            """, logger: logger)
        return try await decodeJournalEvents(rows)
    }

    /// The newest `limit` events of a rollout, oldest first, with their ids.
    public func latestJournalEvents(_ rollout: String, limit: Int = 200) async throws -> [JournalEvent] {
        let rows = try await client.query(
            """
            SELECT * FROM (
                SELECT id, rollout_id, at, kind, phase, wave, tenant, message FROM flotilla.events
                WHERE rollout_id = \(rollout) ORDER BY id DESC LIMIT \(limit)
            ) e ORDER BY id
            """, logger: logger)
        return try await decodeJournalEvents(rows)
    }

    /// One look at the journal in one statement: the events after `after` (at most `limit`), the step counts of the
    /// unfinished rollouts, and the active halts.
    public func journalTick(after: Int64, limit: Int = 500) async throws -> JournalTick {
        let finished = RolloutState.allCases.filter(\.isFinished).map(\.rawValue)
        let rows = try await client.query(
            """
            SELECT 'e', id, rollout_id, at, kind, phase, wave, tenant, message FROM (
                SELECT id, rollout_id, at, kind, phase, wave, tenant, message FROM flotilla.events
                WHERE id > \(after) ORDER BY id LIMIT \(limit)
            ) e
            UNION ALL
            SELECT 'p', 0, rollout_id, now(), '', NULL, NULL, NULL, string_agg(state || ' ' || n, ',' ORDER BY state)
            FROM (
                SELECT s.rollout_id, s.state, count(*) AS n FROM flotilla.steps s
                JOIN flotilla.rollouts r ON r.id = s.rollout_id
                WHERE r.state <> ALL(\(finished)::text[])
                GROUP BY s.rollout_id, s.state
            ) c GROUP BY rollout_id
            UNION ALL
            SELECT 'h', 0, '', now(), '', NULL, NULL, NULL, coalesce(string_agg(id::text, ',' ORDER BY id), '')
            FROM flotilla.halts WHERE lifted_at IS NULL
            """, logger: logger)
        var tick = JournalTick(events: [], progress: [:], halts: "")
        for try await (tag, id, rollout, at, kind, phase, wave, tenant, message) in rows.decode(
            (String, Int64, String, Date, String, String?, String?, String?, String).self)
        {
            switch tag {
            case "e":
                tick.events.append(
                    JournalEvent(
                        id: id, rollout: rollout, at: at, kind: kind, phase: phase, wave: wave, tenant: tenant,
                        message: message))
            case "p": tick.progress[rollout] = message
            default: tick.halts = message
            }
        }
        tick.events.sort { $0.id < $1.id }
        return tick
    }

    /// The steps of each of `rollouts` by state.
    public func rolloutProgress(_ rollouts: [String]) async throws -> [String: RolloutProgress] {
        guard !rollouts.isEmpty else { return [:] }
        let rows = try await client.query(
            """
            SELECT rollout_id, state, count(*)::bigint FROM flotilla.steps
            WHERE rollout_id = ANY(\(rollouts)::text[]) GROUP BY rollout_id, state
            """, logger: logger)
        var result: [String: RolloutProgress] = [:]
        for try await (rollout, state, count) in rows.decode((String, StepState, Int64).self) {
            var progress = result[rollout] ?? RolloutProgress()
            let count = Int(count)
            progress.total += count
            switch state {
            case .applied: progress.applied += count
            case .running: progress.running += count
            case .failed: progress.failed += count
            case .quarantined: progress.quarantined += count
            case .reverted: progress.reverted += count
            case .pending: break
            }
            result[rollout] = progress
        }
        return result
    }

    /// The running rollouts that a halt of `fleet` (every fleet when nil) stops: those a live coordinator holds (its
    /// lease has not expired), with that coordinator (the lease owner).
    public func runningRollouts(fleet: String?) async throws -> [(id: String, owner: String?)] {
        let rows = try await client.query(
            """
            SELECT id, lease_owner FROM flotilla.rollouts
            WHERE state = \(RolloutState.running) AND (\(fleet)::text IS NULL OR fleet = \(fleet))
              AND lease_owner IS NOT NULL AND lease_expires_at > clock_timestamp()
            ORDER BY created_at
            """, logger: logger)
        var result: [(id: String, owner: String?)] = []
        for try await (id, owner) in rows.decode((String, String?).self) { result.append((id, owner)) }
        return result
    }

    /// Which of `rollouts` no coordinator runs any more: moved out of `running` (halted, reverted, done, waiting) or
    /// with their lease released.
    public func stoppedRollouts(_ rollouts: [String]) async throws -> [String] {
        guard !rollouts.isEmpty else { return [] }
        let rows = try await client.query(
            "SELECT id FROM flotilla.rollouts WHERE id = ANY(\(rollouts)::text[]) AND (state <> \(RolloutState.running) OR lease_owner IS NULL OR lease_expires_at < clock_timestamp()) ORDER BY id",
            logger: logger)
        var result: [String] = []
        for try await id in rows.decode(String.self) { result.append(id) }
        return result
    }

    private func decodeJournalEvents(_ rows: PostgresRowSequence) async throws -> [JournalEvent] {
        var result: [JournalEvent] = []
        for try await (id, rollout, at, kind, phase, wave, tenant, message) in rows.decode(
            (Int64, String, Date, String, String?, String?, String?, String).self)
        {
            result.append(
                JournalEvent(
                    id: id, rollout: rollout, at: at, kind: kind, phase: phase, wave: wave, tenant: tenant,
                    message: message))
        }
        return result
    }
}
