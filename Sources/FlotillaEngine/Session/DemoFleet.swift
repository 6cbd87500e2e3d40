import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// Gets the demo fleet's tenants ready on the embedded PostgreSQL: fresh databases, one schema per tenant,
/// and sample users once the first change has created the table.
public enum DemoFleet {
    /// Drops and recreates the demo databases and the tenants' schemas, and forgets earlier demo rollouts.
    public static func reset(_ fleet: Fleet, session: Session, store: ControlStore) async throws {
        guard let embedded = session.embeddedURL else {
            throw RolloutError.message("the demo needs the embedded PostgreSQL")
        }
        try await withPostgresConnection(embedded, logger: session.logger) { connection in
            for shard in fleet.shards {
                let database = String(shard.url.dropFirst("embedded:".count))
                try await SQLRunner.execute(
                    "DROP DATABASE IF EXISTS \(quoteIdentifier(database)) WITH (FORCE)", on: connection,
                    logger: session.logger)
                try await SQLRunner.execute(
                    "CREATE DATABASE \(quoteIdentifier(database))", on: connection, logger: session.logger)
            }
        }
        try await store.client.query(
            "DELETE FROM flotilla.rollouts WHERE fleet = \(fleet.name)", logger: session.logger)
        try await session.withFleet(fleet) { connections in
            for tenant in fleet.tenants {
                try await connections.withTenant(tenant) { connection, _ in
                    try await SQLRunner.execute(
                        "CREATE SCHEMA IF NOT EXISTS \(quoteIdentifier(tenant.placement.name))", on: connection,
                        logger: session.logger)
                }
            }
        }
    }

    /// Adds `rows` sample users to every tenant (a third without a verification token, so they count as verified).
    public static func seed(_ fleet: Fleet, session: Session, rows: Int) async throws {
        try await session.withFleet(fleet) { connections in
            for tenant in fleet.tenants {
                try await connections.withTenant(tenant) { connection, _ in
                    let table = quoteIdentifier(tenant.placement.name) + ".users"
                    try await SQLRunner.execute(
                        PostgresQuery(
                            unsafeSQL: """
                                INSERT INTO \(table) (email, email_verification_token, phone_number)
                                SELECT 'user' || g || '@' || $1 || '.example',
                                       CASE WHEN g % 3 = 0 THEN NULL ELSE md5(g::text) END,
                                       '+1-555-' || lpad(g::text, 7, '0')
                                FROM generate_series(1, $2::int) AS g
                                """,
                            binds: {
                                var binds = PostgresBindings()
                                binds.append(tenant.id)
                                binds.append(rows)
                                return binds
                            }()), on: connection, logger: session.logger)
                }
            }
        }
    }
}
