import FlotillaLint
import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// Runs a change on a scratch copy of one tenant's schema and records what PostgreSQL really did: the locks each
/// statement held (`pg_locks`) and the tables it rewrote (`relfilenode` changes).
///
/// The tenant's schema is copied with `pg_dump --schema-only` into a new database `flotilla_trace_…` on the
/// `target` server, with up to `sampleRows` rows per table. Each statement of each phase's `up` runs inside
/// `BEGIN … ROLLBACK` to be traced, then once more on its own so that the statements after it see its effects.
/// The scratch database is dropped at the end, also when the trace fails. The tenant itself is only read.
public struct ChangeTracer: Sendable {
    public var tenant: Tenant
    /// The tenant's shard (for a database-per-tenant tenant, any database of it: the tenant's is used).
    public var shard: ConnectionURL
    /// Any database on the server where the scratch copy is made; it is not changed.
    public var target: ConnectionURL
    /// Rows copied per table.
    public var sampleRows: Int
    public var binaries: PostgresBinaries
    public var logger: Logger
    /// The start of the scratch database's name; a random part follows.
    public var scratchPrefix = "flotilla_trace_"

    public init(
        tenant: Tenant, shard: ConnectionURL, target: ConnectionURL, sampleRows: Int = 100,
        binaries: PostgresBinaries = .locate(), logger: Logger
    ) {
        self.tenant = tenant
        self.shard = shard
        self.target = target
        self.sampleRows = sampleRows
        self.binaries = binaries
        self.logger = logger
    }

    /// The tenant's database.
    var source: ConnectionURL {
        switch tenant.placement {
        case .schema: shard
        case .database(let database): shard.with(database: database)
        }
    }

    /// The tenant's schema, or `nil` for a database-per-tenant tenant (all its schemas are copied).
    var schema: String? {
        if case .schema(let schema) = tenant.placement { return schema }
        return nil
    }

    /// Traces every statement of every phase's `up`, in order.
    public func trace(_ change: Change) async throws -> ChangeTrace {
        do {
            try binaries.require([.pgDump, .psql])
        } catch {
            throw TraceError(tenant: tenant.id, message: "\(error)")
        }
        let scratch = target.with(database: scratchPrefix + String(UInt64.random(in: 0...UInt64.max), radix: 36))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(scratch.database).\(getpid())", isDirectory: true)
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: folder) }

        try await createDatabase(scratch.database)
        do {
            var notes = try await copy(into: scratch, folder: folder)
            var statements: [StatementTrace] = []
            try await withPostgresConnection(scratch, logger: logger) { connection in
                if let schema {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "SET search_path = \(quoteIdentifier(schema))"), logger: logger)
                }
                for phase in change.phases {
                    if phase.backfill != nil {
                        notes.append("phase \(phase.name): the backfill is not traced (it only updates rows)")
                    }
                    guard let up = phase.up else { continue }
                    for statement in SQLLexer.statements(in: up.sql) {
                        try Task.checkCancellation()
                        var trace = try await self.trace(statement.text, on: connection)
                        trace.phase = phase.name
                        trace.line = statement.line + up.lineOffset
                        trace.column = statement.column + up.columnOffset
                        statements.append(trace)
                    }
                }
            }
            try await dropDatabase(scratch.database)
            return ChangeTrace(tenant: tenant.id, statements: statements, notes: notes)
        } catch {
            try? await dropDatabase(scratch.database)
            throw error
        }
    }

    // MARK: - The copy

    /// Restores the tenant's schema into `scratch`, then copies sample rows. Returns notes on what was not copied.
    private func copy(into scratch: ConnectionURL, folder: URL) async throws -> [String] {
        let tool = PostgresTool(binaries: binaries)
        let dump = folder.appendingPathComponent("schema.sql")
        var arguments = [
            "--schema-only", "--no-owner", "--no-privileges", "--no-comments", "--no-publications",
            "--no-subscriptions", "--no-security-labels", "--no-tablespaces", "--file", dump.path,
        ]
        // pg_dump takes a pattern; inside double quotes every character is literal.
        if let schema { arguments += ["--schema", quoteIdentifier(schema)] }
        do {
            _ = try await tool.run(.pgDump, arguments, on: source, what: "dumping the schema of \(tenant.placement)")
            try await tool.runScript(dump, on: scratch, what: "restoring the schema of \(tenant.placement)")
        } catch let error as ToolFailure {
            throw TraceError(tenant: tenant.id, message: error.message)
        }
        guard sampleRows > 0 else { return [] }
        do {
            let tables = try await sampledTables()
            guard !tables.isEmpty else { return [] }
            // One psql run on the tenant writes the load script: a COPY … FROM STDIN block per table.
            var export = ""
            for table in tables {
                let name = quoteQualified(table.schema, table.name)
                let columns = table.columns.map(quoteIdentifier).joined(separator: ", ")
                export += "\\echo \(PostgresTool.metaCommandArgument("COPY \(name) (\(columns)) FROM STDIN;"))\n"
                export += "COPY (SELECT \(columns) FROM \(name) LIMIT \(sampleRows)) TO STDOUT;\n"
                export += "\\echo \(PostgresTool.metaCommandArgument("\\."))\n"
            }
            let exportFile = folder.appendingPathComponent("export.sql")
            try Data(export.utf8).write(to: exportFile)
            let rows = try await tool.run(
                .psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", exportFile.path], on: source,
                what: "reading sample rows")
            let load = folder.appendingPathComponent("rows.sql")
            // Sampled rows need not satisfy foreign keys between them: no trigger fires while they load.
            try Data(("SET session_replication_role = replica;\n" + rows).utf8).write(to: load)
            try await tool.runScript(load, on: scratch, singleTransaction: true, what: "loading sample rows")
            return []
        } catch {
            return ["sample rows were not copied, the tables are empty: \(error)"]
        }
    }

    private struct Table {
        var schema: String
        var name: String
        var columns: [String]
    }

    /// The tenant's ordinary tables (not those of extensions) and their stored, non-generated columns.
    private func sampledTables() async throws -> [Table] {
        let only = schema ?? ""
        return try await withPostgresConnection(source, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT n.nspname::text, c.relname::text, array_agg(a.attname::text ORDER BY a.attnum)
                FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                WHERE c.relkind = 'r'
                  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                  AND (\(only) = '' OR n.nspname = \(only))
                  AND NOT EXISTS (
                    SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
                GROUP BY n.nspname, c.relname
                ORDER BY 1, 2
                """, logger: logger)
            var tables: [Table] = []
            for try await (schema, name, columns) in rows.decode((String, String, [String]).self) {
                tables.append(Table(schema: schema, name: name, columns: columns))
            }
            return tables
        }
    }

    // MARK: - Tracing one statement

    /// A relation of the copy, as `pg_class` shows it.
    private struct Relation {
        var schema: String
        var name: String
        var kind: String
        var fileNode: Int64

        var isTable: Bool { ["r", "p", "m", "f"].contains(kind) }
    }

    private func trace(_ sql: String, on connection: PostgresConnection) async throws -> StatementTrace {
        var trace = StatementTrace(phase: "", line: 0, column: 0, sql: sql, outcome: .traced)
        let statement = SQLStatement(text: sql, line: 1, column: 1, offset: 0)
        if let keyword = SQLLexer.tokens(in: sql).first?.text.lowercased(), Self.transactionControl.contains(keyword) {
            trace.outcome = .skipped("transaction control")
            return trace
        }
        if statement.mustRunOutsideTransaction {
            let before = try await relations(connection)
            do {
                try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            } catch {
                trace.outcome = .failed(failureText(error))
                return trace
            }
            trace.outcome = .outsideTransaction
            trace.rewrites = rewrites(from: before, to: try await relations(connection)).map { $0.name }
            trace.rewritesWithRows = try await withRows(trace.rewrites, before: before, connection)
            return trace
        }

        try await connection.query("BEGIN", logger: logger)
        let before: [Int64: Relation]
        let after: [Int64: Relation]
        let held: [(oid: Int64, mode: String)]
        do {
            before = try await relations(connection)
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            held = try await locks(connection)
            after = try await relations(connection)
        } catch {
            try await connection.query("ROLLBACK", logger: logger)
            trace.outcome = .failed(failureText(error))
            return trace
        }
        try await connection.query("ROLLBACK", logger: logger)

        var locks: [(relation: Relation, mode: String)] = []
        for (oid, mode) in held {
            guard let relation = after[oid] ?? before[oid] else { continue }
            locks.append((relation, mode))
        }
        locks.sort {
            (LockMode.strength($1.mode), display($0.relation)) < (LockMode.strength($0.mode), display($1.relation))
        }
        trace.locks = locks.map { Finding.Traced.Lock(relation: display($0.relation), mode: $0.mode) }
        var strongest: [String: String] = [:]
        for (relation, mode) in locks where relation.isTable {
            let name = display(relation)
            if LockMode.strength(mode) > LockMode.strength(strongest[name] ?? "") { strongest[name] = mode }
        }
        trace.tableLocks = strongest.map { Finding.Traced.Lock(relation: $0.key, mode: $0.value) }.sorted {
            (LockMode.strength($1.mode), $0.relation) < (LockMode.strength($0.mode), $1.relation)
        }
        let rewritten = rewrites(from: before, to: after)
        trace.rewrites = rewritten.map { $0.name }
        // Rolled back: the tables hold what they held before the statement.
        trace.rewritesWithRows = try await withRows(trace.rewrites, before: before, connection)

        // Applied for real, so that the next statements see its effects.
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        } catch {
            trace.outcome = .failed("traced, but failed when applied again: \(failureText(error))")
        }
        return trace
    }

    private static let transactionControl: Set<String> = [
        "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release",
    ]

    /// Every relation outside the system schemas, by oid.
    private func relations(_ connection: PostgresConnection) async throws -> [Int64: Relation] {
        let rows = try await connection.query(
            """
            SELECT c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text, c.relfilenode::int8
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
            """, logger: logger)
        var result: [Int64: Relation] = [:]
        for try await (oid, schema, name, kind, fileNode) in rows.decode((Int64, String, String, String, Int64).self) {
            result[oid] = Relation(schema: schema, name: name, kind: kind, fileNode: fileNode)
        }
        return result
    }

    /// The relation locks this backend holds in this database, granted or not.
    private func locks(_ connection: PostgresConnection) async throws -> [(oid: Int64, mode: String)] {
        let rows = try await connection.query(
            """
            SELECT relation::int8, mode FROM pg_locks
            WHERE pid = pg_backend_pid() AND locktype = 'relation'
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, logger: logger)
        var result: [(Int64, String)] = []
        for try await (oid, mode) in rows.decode((Int64, String).self) { result.append((oid, mode)) }
        return result
    }

    /// The tables that exist before and after, with another `relfilenode` after.
    private func rewrites(from before: [Int64: Relation], to after: [Int64: Relation]) -> [(oid: Int64, name: String)] {
        before.compactMap { oid, relation -> (Int64, String)? in
            guard relation.isTable, relation.fileNode != 0, let now = after[oid], now.fileNode != relation.fileNode
            else { return nil }
            return (oid, display(relation))
        }
        .sorted { $0.1 < $1.1 }
    }

    /// Which of the named tables hold at least one row now.
    private func withRows(_ names: [String], before: [Int64: Relation], _ connection: PostgresConnection)
        async throws -> [String]
    {
        var result: [String] = []
        for (_, relation) in before where relation.isTable && names.contains(display(relation)) {
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(quoteQualified(relation.schema, relation.name)))"),
                logger: logger)
            for try await hasRows in rows.decode(Bool.self) where hasRows { result.append(display(relation)) }
        }
        return result.sorted()
    }

    /// `users` for a relation of the tenant's schema (or `public` of a tenant database), else `schema.users`.
    private func display(_ relation: Relation) -> String {
        relation.schema == (schema ?? "public") ? relation.name : "\(relation.schema).\(relation.name)"
    }

    /// PostgreSQL's message and SQLSTATE.
    private func failureText(_ error: any Error) -> String {
        let failure = DatabaseFailure(error)
        return failure.message + (failure.sqlState.map { " (SQLSTATE \($0))" } ?? "")
    }

    // MARK: - The scratch database

    private func createDatabase(_ name: String) async throws {
        do {
            try await withPostgresConnection(target, logger: logger) { connection in
                _ = try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(name)) TEMPLATE template0"),
                    logger: logger)
            }
        } catch {
            throw TraceError(
                tenant: tenant.id,
                message: "cannot create the scratch database on \(target.redacted): \(failureText(error))")
        }
    }

    /// Drops the scratch database, even when the trace was cancelled.
    private func dropDatabase(_ name: String) async throws {
        let target = self.target
        let logger = self.logger
        try await uncancelled(within: .seconds(30)) {
            try await withPostgresConnection(target, logger: logger) { connection in
                _ = try await connection.query(
                    PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(quoteIdentifier(name)) WITH (FORCE)"),
                    logger: logger)
            }
        }
    }
}
