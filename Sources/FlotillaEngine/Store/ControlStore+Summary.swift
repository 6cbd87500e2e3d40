import Foundation
import PostgresNIO

extension ControlStore {
    /// Answers when the control store does: one round trip.
    public func ping() async throws {
        let rows = try await client.query("SELECT 1", logger: logger)
        for try await _ in rows {}
    }

    /// How many rollouts are in each state, over the whole journal.
    public func rolloutStateCounts() async throws -> [String: Int] {
        let rows = try await client.query(
            "SELECT state, count(*)::bigint FROM flotilla.rollouts GROUP BY state", logger: logger)
        var result: [String: Int] = [:]
        for try await (state, count) in rows.decode((String, Int64).self) { result[state] = Int(count) }
        return result
    }

    /// How many steps are in each state, per rollout that has not finished (not done, reverted, halted or failed).
    public func unfinishedStepCounts() async throws -> [(rollout: String, state: String, count: Int)] {
        let rows = try await client.query(
            """
            SELECT s.rollout_id, s.state, count(*)::bigint FROM flotilla.steps s
            JOIN flotilla.rollouts r ON r.id = s.rollout_id
            WHERE r.state NOT IN ('done', 'reverted', 'halted', 'failed')
            GROUP BY s.rollout_id, s.state ORDER BY s.rollout_id, s.state
            """, logger: logger)
        var result: [(rollout: String, state: String, count: Int)] = []
        for try await (rollout, state, count) in rows.decode((String, String, Int64).self) {
            result.append((rollout, state, Int(count)))
        }
        return result
    }
}

extension ControlStore {
    /// A shard throttled now, as the journal's throttle events say: the latest `throttled` event of the shard with
    /// no `throttle-cleared` after it.
    public struct ThrottledShard: Sendable, Hashable, Codable {
        public var rollout: String
        public var shard: String
        public var signal: String
        /// `lock_waiters = 7 > 5`, or `app_load unknown (…)`.
        public var condition: String
        public var since: Date

        /// `shard s1 throttled by lock_waiters = 7 > 5 since 18:42:10` (UTC).
        public var description: String {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "HH:mm:ss"
            return "shard \(shard) throttled by \(condition) since \(formatter.string(from: since))"
        }
    }

    /// Shards throttled now in `rollout`, or in every rollout that has not finished.
    public func throttledShards(_ rollout: String? = nil) async throws -> [ThrottledShard] {
        let rows = try await client.query(
            """
            SELECT e.rollout_id, e.kind, e.message, e.at FROM flotilla.events e
            JOIN flotilla.rollouts r ON r.id = e.rollout_id
            WHERE e.kind IN ('throttled', 'throttle-cleared')
              AND (\(rollout)::text IS NULL AND r.state NOT IN ('done', 'reverted', 'halted', 'failed')
                   OR e.rollout_id = \(rollout))
            ORDER BY e.id
            """, logger: logger)
        var current: [String: ThrottledShard] = [:]
        for try await (id, kind, message, at) in rows.decode((String, String, String, Date).self) {
            // "shard S throttled by CONDITION" / "shard S clear (was …)"
            let words = message.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
            guard words.count >= 3, words[0] == "shard" else { continue }
            let key = id + "\u{0}" + words[1]
            if kind == "throttle-cleared" {
                current[key] = nil
                continue
            }
            guard words.count == 5, words[2] == "throttled", words[3] == "by" else { continue }
            let condition = words[4]
            let signal = String(condition.prefix { $0 != " " })
            current[key] = ThrottledShard(rollout: id, shard: words[1], signal: signal, condition: condition, since: at)
        }
        return current.values.sorted { ($0.rollout, $0.shard) < ($1.rollout, $1.shard) }
    }
}
