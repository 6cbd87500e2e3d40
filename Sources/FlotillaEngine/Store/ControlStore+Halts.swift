import Foundation
import PostgresNIO

/// An emergency stop: for one fleet, or for every fleet of this control store (`fleet == nil`).
public struct HaltRecord: Sendable, Hashable, Codable {
    public var id: Int64
    public var fleet: String?
    public var reason: String
    public var haltedBy: String
    public var haltedAt: Date
    /// Revert the current phase after stopping.
    public var revert: Bool

    public var scope: String { fleet.map { "fleet \($0)" } ?? "every fleet" }

    public var description: String {
        "halted (\(scope)) by \(haltedBy) at \(ISO8601DateFormatter().string(from: haltedAt)): \(reason)"
    }
}

extension ControlStore {
    /// The channel coordinators LISTEN on; the payload is the fleet name, or `*` for every fleet.
    public static let haltChannel = "flotilla_halt"

    /// Records a halt and notifies every listening coordinator. Persisted until `resume`.
    public func halt(fleet: String?, reason: String, by: String, revert: Bool) async throws -> HaltRecord {
        let rows = try await client.query(
            """
            WITH h AS (
                INSERT INTO flotilla.halts (fleet, reason, halted_by, revert) VALUES (\(fleet), \(reason), \(by), \(revert))
                RETURNING id, fleet, reason, halted_by, halted_at, revert
            )
            SELECT h.*, pg_notify(\(Self.haltChannel), COALESCE(h.fleet, '*')) IS NULL FROM h
            """, logger: logger)
        for try await (id, fleet, reason, by, at, revert, _) in rows.decode(
            (Int64, String?, String, String, Date, Bool, Bool).self)
        {
            return HaltRecord(id: id, fleet: fleet, reason: reason, haltedBy: by, haltedAt: at, revert: revert)
        }
        throw RolloutError.message("the halt was not recorded")
    }

    /// The fleets this control store has seen: those with a rollout, or with a halt (lifted or not), by name.
    public func knownFleets() async throws -> [String] {
        let rows = try await client.query(
            """
            SELECT fleet FROM flotilla.rollouts
            UNION
            SELECT fleet FROM flotilla.halts WHERE fleet IS NOT NULL
            ORDER BY 1
            """, logger: logger)
        var result: [String] = []
        for try await fleet in rows.decode(String.self) { result.append(fleet) }
        return result
    }

    /// Active halts that stop `fleet` (its own and global ones); all active halts when `fleet` is nil.
    public func activeHalts(fleet: String? = nil) async throws -> [HaltRecord] {
        let rows = try await client.query(
            """
            SELECT id, fleet, reason, halted_by, halted_at, revert FROM flotilla.halts
            WHERE lifted_at IS NULL AND (\(fleet)::text IS NULL OR fleet IS NULL OR fleet = \(fleet))
            ORDER BY halted_at
            """, logger: logger)
        var result: [HaltRecord] = []
        for try await (id, fleet, reason, by, at, revert) in rows.decode(
            (Int64, String?, String, String, Date, Bool).self)
        {
            result.append(HaltRecord(id: id, fleet: fleet, reason: reason, haltedBy: by, haltedAt: at, revert: revert))
        }
        return result
    }

    /// Lifts the halts of `fleet` (only that fleet's own), or every halt when `fleet` is nil. Returns how many.
    public func resume(fleet: String?, by: String) async throws -> Int {
        let rows = try await client.query(
            """
            UPDATE flotilla.halts SET lifted_at = clock_timestamp(), lifted_by = \(by)
            WHERE lifted_at IS NULL AND (\(fleet)::text IS NULL OR fleet = \(fleet)) RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }
}
