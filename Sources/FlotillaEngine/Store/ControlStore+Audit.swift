import Foundation
import Logging
import PostgresNIO

/// A mutating act a person (or a script) did to a fleet's rollouts.
public enum AuditAction: String, Sendable, Hashable, Codable, CaseIterable, StoredAsText {
    case rolloutStart = "rollout-start"
    case approve, halt, resume, revert, retry, converge
}

/// Where an act came from.
public enum AuditVia: String, Sendable, Hashable, Codable, CaseIterable, StoredAsText {
    /// The `flotilla` command line.
    case cli
    /// The HTTP API of `flotilla serve` (the dashboard's buttons included).
    case api
}

/// One row of `flotilla.audit`: who did what, from where and when.
public struct AuditEntry: Sendable, Hashable, Codable {
    public var id: Int64
    public var at: Date
    /// `--by`, the API token's name, else the OS user.
    public var actor: String
    public var via: AuditVia
    /// The machine the act came from: the CLI's host, or the API client's address.
    public var host: String
    public var action: AuditAction
    public var fleet: String?
    public var change: String?
    public var rollout: String?
    /// What else was said: a halt's reason, the phase approved, the tenants retried.
    public var detail: String

    public init(
        id: Int64 = 0, at: Date = Date(), actor: String, via: AuditVia,
        host: String = ProcessInfo.processInfo.hostName, action: AuditAction, fleet: String? = nil,
        change: String? = nil, rollout: String? = nil, detail: String = ""
    ) {
        self.id = id
        self.at = at
        self.actor = actor
        self.via = via
        self.host = host
        self.action = action
        self.fleet = fleet
        self.change = change
        self.rollout = rollout
        self.detail = detail
    }

    /// `2026-12-03T18:00:00Z halt by alice (cli on host1) fleet prod: reason`.
    public var line: String {
        var text =
            "\(ISO8601DateFormatter().string(from: at)) \(action.rawValue) by \(actor) (\(via.rawValue) on \(host))"
        if let fleet { text += " fleet \(fleet)" }
        if let change { text += " change \(change)" }
        if let rollout { text += " rollout \(rollout)" }
        if !detail.isEmpty { text += ": \(detail)" }
        return text
    }

    /// Who acts when no one is named: `$USER`, else the account's name.
    public static var osUser: String {
        let environment = ProcessInfo.processInfo.environment
        if let user = environment["USER"], !user.isEmpty { return user }
        return NSUserName()
    }
}

/// The audit trail in the control store (`flotilla.audit`), created with the other tables by `migrate()`.
extension ControlStore {
    static let auditTables: [String] = [
        """
        CREATE TABLE IF NOT EXISTS flotilla.audit (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            actor text NOT NULL,
            via text NOT NULL,
            host text NOT NULL,
            action text NOT NULL,
            fleet text,
            change text,
            rollout_id text,
            detail text NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX IF NOT EXISTS audit_fleet ON flotilla.audit (fleet, id)",
        "CREATE INDEX IF NOT EXISTS audit_rollout ON flotilla.audit (rollout_id, id)",
    ]

    /// Writes `entry` (its `id` and `at` are the store's) and returns its id. Creates the table when an older store
    /// lacks it.
    @discardableResult
    public func recordAudit(_ entry: AuditEntry) async throws -> Int64 {
        do {
            return try await insertAudit(entry)
        } catch  where DatabaseFailure(error).sqlState == "42P01" {
            try await runMigrations(["CREATE SCHEMA IF NOT EXISTS flotilla"] + Self.auditTables)
            return try await insertAudit(entry)
        }
    }

    private func insertAudit(_ entry: AuditEntry) async throws -> Int64 {
        let rows = try await client.query(
            """
            INSERT INTO flotilla.audit (actor, via, host, action, fleet, change, rollout_id, detail)
            VALUES (\(entry.actor), \(entry.via), \(entry.host), \(entry.action), \(entry.fleet), \(entry.change),
                \(entry.rollout), \(entry.detail))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw RolloutError.message("the audit entry was not written")
    }

    /// Names the rollout an entry written before it existed (`rollout-start`, `converge`, `retry`) is about.
    public func linkAudit(_ id: Int64, rollout: String) async throws {
        try await client.query(
            "UPDATE flotilla.audit SET rollout_id = \(rollout) WHERE id = \(id) AND rollout_id IS NULL", logger: logger)
    }

    /// The audit trail, oldest first: of one fleet, of one rollout, or all of it; the latest `limit` entries.
    public func auditEntries(fleet: String? = nil, rollout: String? = nil, limit: Int = 1000) async throws
        -> [AuditEntry]
    {
        let rows: PostgresRowSequence
        do {
            rows = try await client.query(
                """
                SELECT id, at, actor, via, host, action, fleet, change, rollout_id, detail FROM (
                    SELECT * FROM flotilla.audit
                    WHERE (\(fleet)::text IS NULL OR fleet = \(fleet)) AND (\(rollout)::text IS NULL OR rollout_id = \(rollout))
                    ORDER BY id DESC LIMIT \(limit)
                ) AS latest ORDER BY id
                """, logger: logger)
        } catch  where DatabaseFailure(error).sqlState == "42P01" {
            return []
        }
        var entries: [AuditEntry] = []
        for try await (id, at, actor, via, host, action, fleet, change, rollout, detail) in rows.decode(
            (Int64, Date, String, String, String, String, String?, String?, String?, String).self)
        {
            guard let via = AuditVia(rawValue: via), let action = AuditAction(rawValue: action) else { continue }
            entries.append(
                AuditEntry(
                    id: id, at: at, actor: actor, via: via, host: host, action: action, fleet: fleet, change: change,
                    rollout: rollout, detail: detail))
        }
        return entries
    }
}
