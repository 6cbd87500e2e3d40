import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

extension DemoFleet {
    /// A customer who signs up during the demo: a row in the demo's registry table and an empty schema.
    public struct SignUp: Sendable {
        public var id: String
        public var shard: String
        public var schema: String

        public init(id: String, shard: String, schema: String) {
            self.id = id
            self.shard = shard
            self.schema = schema
        }
    }

    /// The demo's tenant registry: `public.demo_signups` in the database of the fleet's first shard.
    public static let registryQuery = "SELECT id, shard, schema, labels FROM public.demo_signups ORDER BY id"

    /// Creates the registry table (on the fleet's first shard), adds `signUps` to it and creates their empty
    /// schemas, as an application's sign-up would; returns the fleet with that registry as a tenant source.
    public static func signUp(_ signUps: [SignUp], fleet: Fleet, session: Session) async throws -> Fleet {
        guard let first = fleet.shards.first else { return fleet }
        let here = SourceLocation(file: fleet.file, line: 0, column: 0)
        /// A session on a shard's own database (a schema-per-tenant connection, not inside any tenant).
        @Sendable func onShard(_ shard: String) -> Tenant {
            Tenant(id: "(shard \(shard))", shard: shard, placement: .schema("public"), location: here)
        }
        try await session.withFleet(fleet) { connections in
            try await connections.withTenant(onShard(first.name)) { connection, _ in
                try await SQLRunner.execute(
                    """
                    CREATE TABLE IF NOT EXISTS public.demo_signups (
                        id text PRIMARY KEY, shard text NOT NULL, schema text NOT NULL,
                        labels jsonb NOT NULL DEFAULT '{}', signed_up_at timestamptz NOT NULL DEFAULT now())
                    """, on: connection, logger: session.logger)
                for signUp in signUps {
                    try await SQLRunner.execute(
                        PostgresQuery(
                            unsafeSQL: """
                                INSERT INTO public.demo_signups (id, shard, schema, labels)
                                VALUES ($1, $2, $3, '{"tier": "free"}') ON CONFLICT (id) DO NOTHING
                                """,
                            binds: {
                                var binds = PostgresBindings()
                                binds.append(signUp.id)
                                binds.append(signUp.shard)
                                binds.append(signUp.schema)
                                return binds
                            }()), on: connection, logger: session.logger)
                }
            }
            for signUp in signUps {
                try await connections.withTenant(onShard(signUp.shard)) { connection, _ in
                    try await SQLRunner.execute(
                        "CREATE SCHEMA IF NOT EXISTS \(quoteIdentifier(signUp.schema))", on: connection,
                        logger: session.logger)
                }
            }
        }
        var living = fleet
        living.sources.append(
            .registry(
                RegistrySource(
                    target: .shard(first.name), query: registryQuery, location: here)))
        return living
    }
}
