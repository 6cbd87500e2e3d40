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
