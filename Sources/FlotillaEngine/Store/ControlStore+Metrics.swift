import Foundation
import PostgresNIO

extension ControlStore {
    /// How many finished steps took each duration, in milliseconds: the journal's `steps.duration_ms`.
    public func stepDurationCounts() async throws -> [(milliseconds: Int, count: Int)] {
        let rows = try await client.query(
            """
            SELECT duration_ms::bigint, count(*)::bigint FROM flotilla.steps
            WHERE duration_ms IS NOT NULL GROUP BY duration_ms ORDER BY duration_ms
            """, logger: logger)
        var result: [(milliseconds: Int, count: Int)] = []
        for try await (milliseconds, count) in rows.decode((Int64, Int64).self) {
            result.append((Int(milliseconds), Int(count)))
        }
        return result
    }

    /// How many measurements each check recorded, by verdict, over the whole journal.
    /// None before the first check: the table is made when checks first run.
    public func verdictCounts() async throws -> [(check: String, verdict: String, count: Int)] {
        let exists = try await client.query(
            "SELECT to_regclass('flotilla.measurements') IS NOT NULL", logger: logger)
        for try await made in exists.decode(Bool.self) where !made { return [] }
        let rows = try await client.query(
            """
            SELECT check_name, verdict, count(*)::bigint FROM flotilla.measurements
            GROUP BY check_name, verdict ORDER BY check_name, verdict
            """, logger: logger)
        var result: [(check: String, verdict: String, count: Int)] = []
        for try await (check, verdict, count) in rows.decode((String, String, Int64).self) {
            result.append((check, verdict, Int(count)))
        }
        return result
    }

    /// Tenants done (every step of theirs applied) and failed (a step failed or quarantined), per rollout that is
    /// unfinished or finished within the last day: the rollouts a dashboard still shows.
    public func tenantOutcomeCounts() async throws -> [(rollout: String, done: Int, failed: Int)] {
        let rows = try await client.query(
            """
            WITH tenants AS (
                SELECT s.rollout_id, s.tenant,
                       bool_and(s.state = 'applied') AS done,
                       bool_or(s.state IN ('failed', 'quarantined')) AS failed
                FROM flotilla.steps s JOIN flotilla.rollouts r ON r.id = s.rollout_id
                WHERE r.finished_at IS NULL OR r.finished_at > now() - interval '1 day'
                GROUP BY s.rollout_id, s.tenant
            )
            SELECT rollout_id, count(*) FILTER (WHERE done)::bigint, count(*) FILTER (WHERE failed)::bigint
            FROM tenants GROUP BY rollout_id ORDER BY rollout_id
            """, logger: logger)
        var result: [(rollout: String, done: Int, failed: Int)] = []
        for try await (rollout, done, failed) in rows.decode((String, Int64, Int64).self) {
            result.append((rollout, Int(done), Int(failed)))
        }
        return result
    }

    /// For each halt after which no step it caught is still running: the seconds from the halt to the end of the
    /// last step of its fleet (every fleet for a global halt) that was running when it came; 0 when none was.
    public func haltStopSeconds() async throws -> [Double] {
        let rows = try await client.query(
            """
            SELECT h.id,
                   coalesce(extract(epoch FROM max(s.finished_at) - h.halted_at), 0)::float8,
                   count(*) FILTER (WHERE s.state = 'running' AND s.finished_at IS NULL)::bigint
            FROM flotilla.halts h
            LEFT JOIN flotilla.rollouts r ON h.fleet IS NULL OR r.fleet = h.fleet
            LEFT JOIN flotilla.steps s ON s.rollout_id = r.id AND s.started_at <= h.halted_at
                AND (s.finished_at IS NULL OR s.finished_at >= h.halted_at)
            GROUP BY h.id, h.halted_at ORDER BY h.id
            """, logger: logger)
        var result: [Double] = []
        for try await (_, seconds, running) in rows.decode((Int64, Double, Int64).self) where running == 0 {
            result.append(max(0, seconds))
        }
        return result
    }
}
