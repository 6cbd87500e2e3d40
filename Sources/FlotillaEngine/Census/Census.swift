import FlotillaModel
import FlotillaPostgres
import Logging
import PostgresNIO

/// Reads where every tenant of a fleet stands from the tenants' own ledgers (`flotilla_history`), never from the
/// journal, and returns a ``CensusReport``.
///
/// Schema-per-tenant: one connection per shard, one catalog query that finds the tenants' ledgers, then one
/// `UNION ALL` query per few hundred ledgers, each in a read-only transaction of its own (so that the share locks
/// of its tables are held only while it runs, never thousands at once). Database-per-tenant: one short connection per
/// database, a few at a time per shard. Shards are read in parallel. A shard that cannot be reached marks its
/// tenants unreachable (within the connect deadline); nothing is ever written.
public struct Census: Sendable {
    /// How many ledgers one `UNION ALL` query reads. Planning such a query costs about the same per table from 50 to
    /// 400 tables (opening each table and its indexes dominates); 200 keeps the locks held at once few.
    public static let chunkSize = 200

    public let connections: FleetConnections
    public let logger: Logger
    /// At most this many tenant databases are read at once on one shard (and never more than its `max_parallel`).
    public var databasesPerShard = 8

    public init(connections: FleetConnections, logger: Logger) {
        self.connections = connections
        self.logger = logger
    }

    /// The census of `tenants` (default: the fleet's), counting `changes` (in the fleet's order); `defined` names
    /// every change the fleet defines, so that a ledger row of a change left out of `changes` is not "unknown".
    public func run(tenants: [Tenant]? = nil, changes: [Change], defined: Set<String>? = nil) async
        -> CensusReport
    {
        let tenants = tenants ?? connections.fleet.tenants
        let readings = await read(tenants)
        return CensusReport.make(
            fleet: connections.fleet, tenants: tenants, changes: changes, defined: defined ?? Set(changes.map(\.id)),
            readings: readings)
    }

    /// Every tenant's ledger reading, by tenant id.
    public func read(_ tenants: [Tenant]) async -> [String: LedgerReading] {
        let byShard = Dictionary(grouping: tenants, by: \.shard)
        return await withTaskGroup(of: [String: LedgerReading].self) { group in
            for (shard, tenants) in byShard {
                group.addTask { await self.read(shard: shard, tenants) }
            }
            var all: [String: LedgerReading] = [:]
            all.reserveCapacity(tenants.count)
            for await readings in group { all.merge(readings) { first, _ in first } }
            return all
        }
    }

    private func endpoint(_ shard: String) -> String { connections.shardURLs[shard]?.endpoint ?? "" }

    private func problem(_ shard: String, _ error: any Error) -> ShardProblem {
        let message: String
        if let error = error as? ShardError {
            message = error.open.map { "cannot connect to \($0.description)" } ?? error.message
        } else {
            message = DatabaseFailure(error).message
        }
        return ShardProblem(shard: shard, endpoint: endpoint(shard), error: message)
    }

    func read(shard: String, _ tenants: [Tenant]) async -> [String: LedgerReading] {
        guard let pool = connections.pools[shard] else {
            let problem = ShardProblem(shard: shard, endpoint: "", error: "is not defined in the fleet")
            return Dictionary(tenants.map { ($0.id, .unreachable(problem)) }, uniquingKeysWith: { first, _ in first })
        }
        var schemas: [(id: String, schema: String)] = []
        var databases: [(id: String, database: String)] = []
        for tenant in tenants {
            switch tenant.placement {
            case .schema(let name): schemas.append((tenant.id, name))
            case .database(let name): databases.append((tenant.id, name))
            }
        }
        var readings: [String: LedgerReading] = [:]
        if !schemas.isEmpty {
            do {
                readings = try await readSchemas(schemas, pool: pool)
            } catch {
                let problem = self.problem(shard, error)
                for (id, _) in schemas { readings[id] = .unreachable(problem) }
            }
        }
        if !databases.isEmpty {
            let limit = max(1, min(databasesPerShard, connections.fleet.shard(named: shard)?.maxParallel ?? .max))
            for (id, reading) in await readDatabases(databases, shard: shard, pool: pool, limit: limit) {
                readings[id] = reading
            }
        }
        return readings
    }

    /// Every tenant schema's ledger on one shard, on one connection.
    private func readSchemas(_ schemas: [(id: String, schema: String)], pool: ShardPool) async throws
        -> [String: LedgerReading]
    {
        let logger = self.logger
        let names = schemas.map(\.schema)
        let found = try await pool.withConnection { connection, _ in
            var present = try await Self.ledgerPresence(of: names, on: connection, logger: logger)
            let ledgers = names.filter { present[$0] == true }
            var rows: [String: [LedgerRow]] = [:]
            var start = 0
            while start < ledgers.count {
                let chunk = Array(ledgers[start..<min(start + Self.chunkSize, ledgers.count)])
                do {
                    rows.merge(try await Self.readChunk(chunk, on: connection, logger: logger)) { first, _ in first }
                } catch  where ["42P01", "3F000"].contains(postgresSQLState(error) ?? "") {
                    // A tenant's schema or ledger was dropped since the catalog was read (a tenant deleted while the
                    // census runs): read the chunk's catalog again and its ledgers once more.
                    try await SQLRunner.execute("ROLLBACK", on: connection, logger: logger)
                    let again = try await Self.ledgerPresence(of: chunk, on: connection, logger: logger)
                    for schema in chunk { present[schema] = again[schema] }
                    let still = chunk.filter { again[$0] == true }
                    rows.merge(try await Self.readChunk(still, on: connection, logger: logger)) { first, _ in first }
                }
                start += Self.chunkSize
            }
            return (present, rows)
        }
        var readings: [String: LedgerReading] = [:]
        readings.reserveCapacity(schemas.count)
        for (id, schema) in schemas {
            switch found.0[schema] {
            case true?: readings[id] = .rows(found.1[schema] ?? [])
            case false?: readings[id] = .noLedger(placementExists: true)
            case nil: readings[id] = .noLedger(placementExists: false)
            }
        }
        return readings
    }

    /// Which of `schemas` exist (the key) and have a `flotilla_history` table (the value), in one catalog query.
    private static func ledgerPresence(of schemas: [String], on connection: PostgresConnection, logger: Logger)
        async throws -> [String: Bool]
    {
        var present: [String: Bool] = [:]
        let catalog = try await connection.query(
            """
            SELECT n.nspname, c.oid IS NOT NULL
            FROM pg_catalog.pg_namespace n
            LEFT JOIN pg_catalog.pg_class c
                ON c.relnamespace = n.oid AND c.relname = 'flotilla_history' AND c.relkind IN ('r', 'p')
            WHERE n.nspname = ANY(\(schemas))
            """, logger: logger)
        for try await (name, hasLedger) in catalog.decode((String, Bool).self) { present[name] = hasLedger }
        return present
    }

    /// The ledgers of `schemas` in one `UNION ALL` query, in a read-only transaction of its own: it holds its
    /// tables' share locks only while it reads them.
    private static func readChunk(_ schemas: [String], on connection: PostgresConnection, logger: Logger)
        async throws -> [String: [LedgerRow]]
    {
        guard !schemas.isEmpty else { return [:] }
        let sql = schemas.enumerated().map { index, schema in
            "SELECT \(index)::int4, change, phase, checksum, reverted_at IS NOT NULL FROM \(quoteIdentifier(schema)).flotilla_history"
        }.joined(separator: "\nUNION ALL\n")
        try await begin(on: connection, logger: logger)
        var rows: [String: [LedgerRow]] = [:]
        let result = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        for try await (index, change, phase, checksum, reverted) in result.decode(
            (Int32, String, String, String, Bool).self)
        {
            rows[schemas[Int(index)], default: []].append(
                LedgerRow(change: change, phase: phase, checksum: checksum, reverted: reverted))
        }
        try await SQLRunner.execute("COMMIT", on: connection, logger: logger)
        return rows
    }

    /// Each tenant database's ledger, `limit` databases at a time. A server that refuses the first connection marks
    /// every tenant of the shard unreachable without trying the others.
    private func readDatabases(
        _ databases: [(id: String, database: String)], shard: String, pool: ShardPool, limit: Int
    ) async -> [String: LedgerReading] {
        let logger = self.logger
        do {
            try await pool.withConnection { connection, _ in
                try await SQLRunner.execute("SELECT 1", on: connection, logger: logger)
            }
        } catch {
            let problem = self.problem(shard, error)
            return Dictionary(databases.map { ($0.id, .unreachable(problem)) }, uniquingKeysWith: { first, _ in first })
        }
        return await withTaskGroup(of: (String, LedgerReading).self) { group in
            var readings: [String: LedgerReading] = [:]
            var next = 0
            func start() {
                let (id, database) = databases[next]
                next += 1
                group.addTask { (id, await self.readDatabase(database, shard: shard, pool: pool)) }
            }
            while next < databases.count, next < limit { start() }
            for await (id, reading) in group {
                readings[id] = reading
                if next < databases.count { start() }
            }
            return readings
        }
    }

    /// A read-only transaction that never waits long: a ledger locked by a long migration, or a slow server, fails
    /// the read (reported with the error) instead of holding the census.
    private static func begin(on connection: PostgresConnection, logger: Logger) async throws {
        try await SQLRunner.execute("START TRANSACTION READ ONLY", on: connection, logger: logger)
        try await SQLRunner.execute(
            "SELECT set_config('lock_timeout', '5s', true), set_config('statement_timeout', '2min', true)",
            on: connection, logger: logger)
    }

    private func readDatabase(_ database: String, shard: String, pool: ShardPool) async -> LedgerReading {
        let logger = self.logger
        do {
            return try await pool.withConnection(database: database) { connection, _ in
                try await Self.begin(on: connection, logger: logger)
                let exists = try await SQLRunner.firstValue(
                    "to_regclass('public.flotilla_history') IS NOT NULL", on: connection, logger: logger)
                guard exists == "true" else {
                    try await SQLRunner.execute("COMMIT", on: connection, logger: logger)
                    return .noLedger(placementExists: true)
                }
                var rows: [LedgerRow] = []
                let result = try await connection.query(
                    "SELECT change, phase, checksum, reverted_at IS NOT NULL FROM public.flotilla_history",
                    logger: logger)
                for try await (change, phase, checksum, reverted) in result.decode((String, String, String, Bool).self)
                {
                    rows.append(LedgerRow(change: change, phase: phase, checksum: checksum, reverted: reverted))
                }
                try await SQLRunner.execute("COMMIT", on: connection, logger: logger)
                return .rows(rows)
            }
        } catch let error as ShardError {
            if case .rejected(let sqlState, _)? = error.open?.reason, sqlState == "3D000" {
                return .noLedger(placementExists: false)
            }
            return .unreachable(problem(shard, error))
        } catch {
            return .unreachable(problem(shard, error))
        }
    }
}
