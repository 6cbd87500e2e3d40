import FlotillaModel
import Foundation
import PostgresNIO

/// The tenant set a rollout started with (`flotilla.rollout_tenants`): written with the rollout's row, read by
/// resume, revert, workers and status instead of the fleet's tenants of the moment.
extension ControlStore {
    /// Writes a rollout's tenant set on `connection` (the transaction that creates the rollout).
    func insertTenantSnapshot(_ rollout: String, tenants: [Tenant], on connection: PostgresConnection) async throws {
        if tenants.isEmpty { return }
        var ids: [String] = []
        var shards: [String] = []
        // "" for none: PostgresNIO binds no array of optionals; NULLIF turns it back into NULL.
        var schemas: [String] = []
        var databases: [String] = []
        var labels: [String] = []
        ids.reserveCapacity(tenants.count)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for tenant in tenants {
            ids.append(tenant.id)
            shards.append(tenant.shard)
            switch tenant.placement {
            case .schema(let name):
                schemas.append(name)
                databases.append("")
            case .database(let name):
                schemas.append("")
                databases.append(name)
            }
            labels.append(
                tenant.labels.isEmpty ? "{}" : String(decoding: try encoder.encode(tenant.labels), as: UTF8.self))
        }
        try await connection.query(
            """
            INSERT INTO flotilla.rollout_tenants (rollout_id, position, tenant, shard, schema_name, database_name, labels)
            SELECT \(rollout), u.ord::int - 1, u.t, u.s, NULLIF(u.sc, ''), NULLIF(u.db, ''), u.l::jsonb
            FROM unnest(\(ids)::text[], \(shards)::text[], \(schemas)::text[], \(databases)::text[], \(labels)::text[])
                WITH ORDINALITY AS u(t, s, sc, db, l, ord)
            """, logger: logger
        ).collect()
    }

    /// The tenant set rollout `id` started with, in the fleet's order at the time; empty for a rollout created before
    /// the journal kept it (its callers fall back to the fleet's tenants).
    public func tenantSnapshot(_ rollout: String) async throws -> [Tenant] {
        let rows = try await client.query(
            """
            SELECT position, tenant, shard, schema_name, database_name, labels::text
            FROM flotilla.rollout_tenants WHERE rollout_id = \(rollout) ORDER BY position
            """, logger: logger)
        let decoder = JSONDecoder()
        var tenants: [Tenant] = []
        for try await (position, id, shard, schema, database, labels) in rows.decode(
            (Int, String, String, String?, String?, String).self)
        {
            let placement: Tenant.Placement
            if let schema {
                placement = .schema(schema)
            } else if let database {
                placement = .database(database)
            } else {
                throw RolloutError.message("rollout \(rollout): tenant \(id) in its snapshot has no schema or database")
            }
            let decoded =
                labels == "{}" ? [:] : (try? decoder.decode([String: String].self, from: Data(labels.utf8))) ?? [:]
            tenants.append(
                Tenant(
                    id: id, shard: shard, placement: placement, labels: decoded,
                    location: SourceLocation(
                        file: "rollout \(rollout) (tenant snapshot)", line: position + 1, column: 1)))
        }
        return tenants
    }

    /// How many tenants rollout `id` started with (0: none recorded, a rollout from before the snapshot).
    public func tenantSnapshotCount(_ rollout: String) async throws -> Int {
        let rows = try await client.query(
            "SELECT count(*)::bigint FROM flotilla.rollout_tenants WHERE rollout_id = \(rollout)", logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    /// Of `ids` (the fleet's tenants now), those rollout `id`'s snapshot lacks; nil when the rollout has no snapshot.
    public func tenantsNotInSnapshot(_ rollout: String, ids: [String]) async throws -> [String]? {
        guard try await tenantSnapshotCount(rollout) > 0 else { return nil }
        let rows = try await client.query(
            """
            SELECT u.t FROM unnest(\(ids)::text[]) WITH ORDINALITY AS u(t, ord)
            WHERE NOT EXISTS (SELECT 1 FROM flotilla.rollout_tenants r WHERE r.rollout_id = \(rollout) AND r.tenant = u.t)
            ORDER BY u.ord
            """, logger: logger)
        var missing: [String] = []
        for try await id in rows.decode(String.self) { missing.append(id) }
        return missing
    }

    /// The retry rollouts of `parent`, newest first.
    public func retries(of parent: String) async throws -> [RolloutRecord] {
        let rows = try await client.query(
            "SELECT \(unescaped: Self.rolloutColumns) FROM flotilla.rollouts WHERE parent_id = \(parent) AND kind = \(RolloutKind.retry) ORDER BY created_at DESC",
            logger: logger)
        return try await decodeRollouts(rows)
    }
}
