import FlotillaLint
import FlotillaModel
import FlotillaPostgres
import FlotillaSQL
import Logging
import PostgresNIO

/// Reads tenants' catalogs for `flotilla lint --fleet` and rollout's risk gate: the columns, validated
/// `CHECK (col IS NOT NULL)` constraints, indexes and sizes of the tables a change touches (``LiveSchema``), and per
/// shard the tenant with the most rows in them. Every query runs in a `READ ONLY` transaction with short lock and
/// statement timeouts, values bound; nothing is written.
///
/// Rows are `pg_class.reltuples`. A table never analyzed (`reltuples` -1, PostgreSQL 14+) has its rows counted, up
/// to `countLimit` (`SELECT count(*) FROM (SELECT 1 FROM t LIMIT n)`), so that a fresh, large table is not taken for
/// an empty one; to rank tenants (`largest`) such a table counts as its size in bytes / 100, a cheap estimate.
public struct CatalogReader: Sendable {
    public let connections: FleetConnections
    public let logger: Logger

    public init(connections: FleetConnections, logger: Logger) {
        self.connections = connections
        self.logger = logger
    }

    /// A shard's tenant with the most rows in the touched tables.
    public struct Largest: Sendable, Hashable {
        public var tenant: Tenant
        public var rows: Int
    }

    /// One tenant's catalog for `tables` (names as the change writes them, resolved in the tenant's schema, or on
    /// the tenant database's search path).
    public func read(_ tenant: Tenant, tables: [String], countLimit: Int) async throws -> LiveSchema {
        guard let pool = connections.pools[tenant.shard] else {
            throw ShardError(shard: tenant.shard, message: "is not defined in the fleet")
        }
        let logger = self.logger
        let database: String? = if case .database(let name) = tenant.placement { name } else { nil }
        let schema: String? = if case .schema(let name) = tenant.placement { name } else { nil }
        let found = try await pool.withConnection(database: database) { connection, _ in
            try await Self.begin(on: connection, logger: logger)
            do {
                let result = try await Self.readTables(
                    tables, schema: schema, countLimit: countLimit, on: connection, logger: logger)
                try await SQLRunner.execute("COMMIT", on: connection, logger: logger)
                return result
            } catch {
                await SQLRunner.cleanUp("ROLLBACK", on: connection, after: error, logger: logger)
                throw error
            }
        }
        return LiveSchema(tenant: tenant.id, shard: tenant.shard, tables: found)
    }

    /// Per shard, the tenant of `tenants` with the most rows in `tables`: one catalog query per shard for
    /// schema-per-tenant, one per database for database-per-tenant. Shards are read in parallel.
    public func largest(_ tenants: [Tenant], tables: [String]) async throws -> [Largest] {
        let byShard = Dictionary(grouping: tenants, by: \.shard)
        return try await withThrowingTaskGroup(of: Largest?.self) { group in
            for (shard, tenants) in byShard {
                group.addTask { try await self.largest(onShard: shard, tenants, tables: tables) }
            }
            var all: [Largest] = []
            for try await largest in group { if let largest { all.append(largest) } }
            return all.sorted { ($0.rows, $1.tenant.id) > ($1.rows, $0.tenant.id) }
        }
    }

    private func largest(onShard shard: String, _ tenants: [Tenant], tables: [String]) async throws -> Largest? {
        guard let pool = connections.pools[shard] else {
            throw ShardError(shard: shard, message: "is not defined in the fleet")
        }
        let logger = self.logger
        var rows: [String: Int] = [:]
        let schemas = tenants.compactMap { tenant -> String? in
            if case .schema(let name) = tenant.placement { name } else { nil }
        }
        if !schemas.isEmpty {
            let sizes = try await pool.withConnection { connection, _ in
                try await Self.begin(on: connection, logger: logger)
                var sizes: [String: Int] = [:]
                let result = try await connection.query(
                    """
                    SELECT n.nspname, sum(\(unescaped: Self.rowEstimate))::float8
                    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = ANY(\(schemas)) AND c.relname = ANY(\(tables)) AND c.relkind IN ('r', 'p')
                    GROUP BY n.nspname
                    """, logger: logger)
                for try await (schema, total) in result.decode((String, Double).self) { sizes[schema] = Int(total) }
                try await SQLRunner.execute("COMMIT", on: connection, logger: logger)
                return sizes
            }
            for tenant in tenants {
                if case .schema(let name) = tenant.placement { rows[tenant.id] = sizes[name] ?? 0 }
            }
        }
        for tenant in tenants {
            guard case .database(let database) = tenant.placement else { continue }
            rows[tenant.id] = try await pool.withConnection(database: database) { connection, _ in
                try await Self.begin(on: connection, logger: logger)
                let result = try await connection.query(
                    """
                    SELECT coalesce(sum(\(unescaped: Self.rowEstimate)), 0)::float8
                    FROM pg_catalog.pg_class c
                    WHERE c.relname = ANY(\(tables)) AND c.relkind IN ('r', 'p') AND pg_catalog.pg_table_is_visible(c.oid)
                    """, logger: logger)
                var total = 0
                for try await value in result.decode(Double.self) { total = Int(value) }
                try await SQLRunner.execute("COMMIT", on: connection, logger: logger)
                return total
            }
        }
        // The most rows; on a tie, the first tenant in the fleet's order.
        var best: Largest?
        for tenant in tenants {
            let count = rows[tenant.id] ?? 0
            if best == nil || count > best!.rows { best = Largest(tenant: tenant, rows: count) }
        }
        return best
    }

    /// A table's rows for ranking: `reltuples`, or its size in bytes / 100 when it was never analyzed.
    static let rowEstimate =
        "CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8 ELSE pg_catalog.pg_relation_size(c.oid)::float8 / 100 END"

    /// A read-only transaction that never waits long on a lock (a table locked by a running migration fails the read).
    static func begin(on connection: PostgresConnection, logger: Logger) async throws {
        try await SQLRunner.execute("START TRANSACTION READ ONLY", on: connection, logger: logger)
        try await SQLRunner.execute(
            "SELECT set_config('lock_timeout', '5s', true), set_config('statement_timeout', '1min', true)",
            on: connection, logger: logger)
    }

    private static func readTables(
        _ names: [String], schema: String?, countLimit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [LiveSchema.Table] {
        var tables: [Int64: LiveSchema.Table] = [:]
        var order: [Int64] = []
        var qualified: [Int64: String] = [:]
        let query: PostgresQuery =
            if let schema {
                """
                SELECT c.oid::int8, n.nspname, c.relname, c.reltuples::float8, c.relpages::int4
                FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = \(schema) AND c.relname = ANY(\(names)) AND c.relkind IN ('r', 'p')
                """
            } else {
                """
                SELECT c.oid::int8, n.nspname, c.relname, c.reltuples::float8, c.relpages::int4
                FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname = ANY(\(names)) AND c.relkind IN ('r', 'p') AND pg_catalog.pg_table_is_visible(c.oid)
                """
            }
        for try await (oid, namespace, name, reltuples, pages) in try await connection.query(query, logger: logger)
            .decode((Int64, String, String, Double, Int32).self)
        {
            tables[oid] = LiveSchema.Table(name: name, rows: max(0, Int(reltuples)), pages: Int(pages))
            if reltuples < 0 { tables[oid]?.rowSource = .counted }
            qualified[oid] = quoteIdentifier(namespace) + "." + quoteIdentifier(name)
            order.append(oid)
        }
        guard !order.isEmpty else { return [] }
        for oid in order where tables[oid]?.rowSource == .counted {
            let limit = max(countLimit, 1)
            let count = try await connection.query(
                "SELECT count(*)::int8 FROM (SELECT 1 FROM \(unescaped: qualified[oid]!) LIMIT \(Int64(limit))) AS t",
                logger: logger)
            for try await value in count.decode(Int64.self) { tables[oid]?.rows = Int(value) }
        }
        let columns = try await connection.query(
            """
            SELECT a.attrelid::int8, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid::int8 = ANY(\(order)) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attrelid, a.attnum
            """, logger: logger)
        for try await (oid, name, type, notNull) in columns.decode((Int64, String, String, Bool).self) {
            tables[oid]?.columns.append(LiveSchema.Column(name: name, type: type, notNull: notNull))
        }
        let checks = try await connection.query(
            """
            SELECT con.conrelid::int8, a.attname, pg_catalog.pg_get_constraintdef(con.oid)
            FROM pg_catalog.pg_constraint con
            JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
            WHERE con.conrelid::int8 = ANY(\(order)) AND con.contype = 'c' AND con.convalidated
                AND array_length(con.conkey, 1) = 1
            """, logger: logger)
        for try await (oid, column, definition) in checks.decode((Int64, String, String).self)
        where isNotNullCheck(definition, column: column) {
            tables[oid]?.notNullChecks.insert(column)
        }
        let indexes = try await connection.query(
            """
            SELECT i.indrelid::int8, ci.relname, i.indisunique, i.indisvalid,
                ARRAY(
                    SELECT coalesce(a.attname::text, '')
                    FROM generate_series(0, i.indnkeyatts - 1) AS k(position)
                    LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.position]
                    ORDER BY k.position
                )::text[],
                ARRAY(
                    SELECT a.attname::text FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = i.indrelid AND a.attnum > 0 AND NOT a.attisdropped
                        AND (a.attnum = ANY(i.indkey::int2[])
                            OR pg_catalog.pg_get_expr(i.indexprs, i.indrelid) ~ ('\\m' || a.attname || '\\M')
                            OR pg_catalog.pg_get_expr(i.indpred, i.indrelid) ~ ('\\m' || a.attname || '\\M'))
                )::text[]
            FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid
            WHERE i.indrelid::int8 = ANY(\(order))
            ORDER BY ci.relname
            """, logger: logger)
        for try await (oid, name, unique, valid, keys, mentions) in indexes.decode(
            (Int64, String, Bool, Bool, [String], [String]).self)
        {
            tables[oid]?.indexes.append(
                LiveSchema.Index(
                    name: name, columns: keys.map { $0.isEmpty ? nil : $0 }, mentions: Set(mentions), unique: unique,
                    valid: valid))
        }
        return order.compactMap { tables[$0] }
    }

    /// What went wrong reading a catalog, safe to print (no password): the server's message, or the shard's.
    public static func describe(_ error: any Error) -> String {
        if let error = error as? ShardError { return error.description }
        return DatabaseFailure(error).message
    }

    /// Whether `pg_get_constraintdef` of a check says `CHECK ((column IS NOT NULL))`.
    static func isNotNullCheck(_ definition: String, column: String) -> Bool {
        let bare = definition.filter { $0 != "(" && $0 != ")" }.split(whereSeparator: \.isWhitespace)
            .joined(separator: " ")
        return bare == "CHECK \(quoteIdentifierIfNeeded(column)) IS NOT NULL"
    }
}
