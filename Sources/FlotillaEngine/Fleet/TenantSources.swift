import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// A fleet whose sources have been resolved: `fleet.tenants` holds the listed and generated tenants, then each
/// source's tenants in the order the sources are written.
public struct ResolvedFleet: Sendable {
    /// How many tenants one source gave.
    public struct SourceCount: Sendable, Hashable {
        public var source: TenantSource
        public var tenants: Int

        public init(source: TenantSource, tenants: Int) {
            self.source = source
            self.tenants = tenants
        }
    }

    public var fleet: Fleet
    /// Tenants listed or generated in `fleet.yaml`.
    public var listed: Int
    /// One per source, in the order written.
    public var sources: [SourceCount]

    public init(fleet: Fleet, listed: Int, sources: [SourceCount]) {
        self.fleet = fleet
        self.listed = listed
        self.sources = sources
    }

    /// A fleet without sources, as it is.
    public init(unresolved fleet: Fleet) {
        self.init(fleet: fleet, listed: fleet.tenants.count, sources: [])
    }

    /// `12 listed, 200 from: at fleet.yaml:20:5, 3 discover: at fleet.yaml:23:5`, for `plan` and logs.
    public var summary: String {
        var parts: [String] = []
        if listed > 0 || sources.isEmpty { parts.append("\(listed) listed") }
        for count in sources { parts.append("\(count.tenants) \(count.source)") }
        return parts.joined(separator: ", ")
    }
}

/// One problem with a source or one of its rows: where the source is written, which row, and what is wrong.
public struct TenantSourceError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Problem: Sendable, Hashable {
        /// A column the registry query may not return (only id, shard, schema, database, labels).
        case unknownColumn(String)
        /// A required column (id; shard when the source names none; schema or database) is missing.
        case missingColumn(String)
        /// A row has both a schema and a database.
        case schemaAndDatabase
        /// A column's value is NULL where a value is needed.
        case null(column: String)
        /// A column is of a type that is not read (e.g. labels that are not json).
        case wrongType(column: String, type: String)
        /// The labels are not a JSON object of strings.
        case badLabels(String)
        /// The row's shard is not one of the fleet's.
        case shardNotDefined(String, shards: [String])
        /// The id is given twice: by an earlier row, source or listed tenant.
        case duplicateID(firstAt: String)
        /// Another tenant already lives in the same schema or database of the same shard.
        case placementTaken(placement: Tenant.Placement, shard: String, by: String)
        /// An id, schema or database name that Flotilla does not accept.
        case invalidName(kind: String, name: String, problem: String)
        /// The fleet would have more tenants than a fleet may.
        case tooManyTenants(Int, limit: Int)
        /// The registry or a shard could not be reached or queried.
        case database(String, sqlState: String?)
        /// The registry URL cannot be used.
        case badURL(String)
    }

    /// The `from:` or `discover:` entry.
    public var source: TenantSource
    /// The row's tenant id, when it has one; else nil.
    public var tenant: String?
    /// The row's number (1-based) in the query's result, or in the discovered names.
    public var row: Int?
    public var problem: Problem

    public init(source: TenantSource, tenant: String? = nil, row: Int? = nil, problem: Problem) {
        self.source = source
        self.tenant = tenant
        self.row = row
        self.problem = problem
    }

    public var message: String {
        switch problem {
        case .unknownColumn(let column):
            return "column '\(column)' is not one a registry query returns (id, shard, schema or database, labels)"
        case .missingColumn(let column): return "the query returns no '\(column)' column"
        case .schemaAndDatabase:
            return "has both a schema and a database; a tenant has one (schema-per-tenant or database-per-tenant)"
        case .null(let column): return "'\(column)' is NULL"
        case .wrongType(let column, let type): return "column '\(column)' is of type \(type)"
        case .badLabels(let problem): return "labels \(problem)"
        case .shardNotDefined(let shard, let shards):
            return "shard '\(shard)' is not defined (shards: \(shards.joined(separator: ", ")))"
        case .duplicateID(let first): return "duplicate tenant id (first given \(first))"
        case .placementTaken(let placement, let shard, let other):
            return "uses \(placement) on shard '\(shard)', which tenant '\(other)' already uses"
        case .invalidName(let kind, let name, let problem): return "\(kind) '\(name)' \(problem)"
        case .tooManyTenants(let count, let limit):
            return "the fleet would have \(count) tenants; a fleet has at most \(limit)"
        case .database(let message, _): return message
        case .badURL(let message): return message
        }
    }

    /// `from: tenant 't0007': shard 'pg-z' is not defined (shards: pg-a, pg-b)`: the source, the row, the problem.
    public var detail: String {
        if let tenant { return "\(source.key): tenant '\(tenant)': \(message)" }
        if let row { return "\(source.key): row \(row): \(message)" }
        return "\(source.key): \(message)"
    }

    /// The problem of a row, not of reaching the registry or shard.
    public var isDefinitionProblem: Bool {
        if case .database = problem { return false }
        return true
    }

    /// `fleets/f/fleet.yaml:12:5: error: from: tenant 't0007': shard 'pg-z' is not defined (shards: pg-a, pg-b)`
    public var description: String { "\(source.location): error: \(detail)" }
}

/// Every problem the sources had (at most `TenantSources.maxReported` of them), in the order found.
public struct TenantSourceErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [TenantSourceError]
    /// Problems found beyond those kept in `errors`.
    public var more: Int

    public init(_ errors: [TenantSourceError], more: Int = 0) {
        self.errors = errors
        self.more = more
    }

    public var description: String {
        var lines = errors.map(\.description)
        if more > 0 { lines.append("… and \(more) more") }
        return lines.joined(separator: "\n")
    }
}

/// Resolves a fleet's `from:` and `discover:` sources by reading the registries and the shards' catalogs.
///
/// Registry queries run in a read-only transaction; discovery reads `pg_namespace` / `pg_database`. Nothing is
/// written anywhere. Every row is checked like a tenant written in `fleet.yaml` (names, shard, duplicate ids and
/// places, across listed tenants and all sources); any problem throws `TenantSourceErrors` naming the source's
/// place in `fleet.yaml` and the row's tenant id.
public struct TenantSources: Sendable {
    public static let maxReported = 50
    /// Names a registry may return, besides nothing else.
    static let columns = ["id", "shard", "schema", "database", "labels"]
    /// Schemas discovery never returns, besides `pg_*` (catalogs, toast, temp).
    static let undiscoverableSchemas = ["public", "information_schema", "flotilla"]
    /// How long one registry query or catalog read may run.
    public var statementTimeout: Duration = .seconds(30)

    let fleet: Fleet
    let shardURLs: [String: ConnectionURL]
    let embedded: ConnectionURL?
    let environment: [String: String]
    let deadlines: ConnectionDeadlines
    let logger: Logger

    /// `embedded`: the embedded PostgreSQL's URL when it runs (for `embedded:` shards and registries).
    public init(
        fleet: Fleet, embedded: ConnectionURL?, environment: [String: String],
        deadlines: ConnectionDeadlines = ConnectionDeadlines(), logger: Logger
    ) throws {
        self.fleet = fleet
        self.embedded = embedded
        self.environment = environment
        self.deadlines = deadlines
        self.logger = logger
        shardURLs =
            try FleetConnections(
                fleet: fleet, embedded: embedded, environment: environment, deadlines: deadlines, logger: logger
            ).shardURLs
    }

    /// The fleet with every source's tenants added; the fleet itself when it has no sources (nothing connects).
    public static func resolve(
        _ fleet: Fleet, embedded: ConnectionURL?, environment: [String: String],
        deadlines: ConnectionDeadlines = ConnectionDeadlines(), logger: Logger
    ) async throws -> ResolvedFleet {
        guard !fleet.sources.isEmpty else { return ResolvedFleet(unresolved: fleet) }
        return try await TenantSources(
            fleet: fleet, embedded: embedded, environment: environment, deadlines: deadlines, logger: logger
        ).resolve()
    }

    /// Whether resolving `fleet`'s sources needs the embedded PostgreSQL.
    public static func needsEmbedded(_ fleet: Fleet) -> Bool {
        fleet.sources.contains { source in
            switch source {
            case .registry(let registry):
                switch registry.target {
                case .url(let url): return url.hasPrefix("embedded:")
                case .shard(let shard): return fleet.shard(named: shard)?.url.hasPrefix("embedded:") ?? false
                }
            case .discovery(let discovery):
                return discovery.shards.contains { fleet.shard(named: $0)?.url.hasPrefix("embedded:") ?? false }
            }
        }
    }

    public func resolve() async throws -> ResolvedFleet {
        var checker = TenantChecker(fleet: fleet)
        var counts: [ResolvedFleet.SourceCount] = []
        for source in fleet.sources {
            try Task.checkCancellation()
            let before = checker.tenants.count
            switch source {
            case .registry(let registry):
                let rows = try await readRegistry(registry, source: source)
                for (number, row) in rows.enumerated() { checker.add(row: row, number: number + 1, source: source) }
            case .discovery(let discovery):
                for shard in discovery.shards {
                    let names = try await discover(discovery, shard: shard, source: source)
                    for (number, name) in names.enumerated() {
                        checker.add(discovered: name, number: number + 1, shard: shard, discovery, source: source)
                    }
                }
            }
            counts.append(ResolvedFleet.SourceCount(source: source, tenants: checker.tenants.count - before))
        }
        if checker.tenants.count > Fleet.maxTenants, let source = fleet.sources.last {
            checker.fail(source, problem: .tooManyTenants(checker.tenants.count, limit: Fleet.maxTenants))
        }
        if !checker.errors.isEmpty { throw TenantSourceErrors(checker.errors, more: checker.unreported) }
        var resolved = fleet
        resolved.tenants = checker.tenants
        logger.debug(
            "tenant sources resolved",
            metadata: ["fleet": "\(fleet.name)", "tenants": "\(checker.tenants.count)"])
        return ResolvedFleet(fleet: resolved, listed: fleet.tenants.count, sources: counts)
    }

    // MARK: reading

    /// One registry row, its columns by name.
    struct Row: Sendable {
        var values: [String: Value] = [:]
        var unknown: [String] = []

        enum Value: Sendable {
            case null
            case text(String)
            case wrongType(String)
        }
    }

    func registryURL(_ registry: RegistrySource, source: TenantSource) throws -> ConnectionURL {
        switch registry.target {
        case .shard(let shard):
            guard let url = shardURLs[shard] else {
                throw TenantSourceErrors([
                    TenantSourceError(
                        source: source, problem: .shardNotDefined(shard, shards: fleet.shards.map(\.name)))
                ])
            }
            return url
        case .url(let text):
            if text.hasPrefix("embedded:") {
                guard let embedded else {
                    throw TenantSourceErrors([
                        TenantSourceError(source: source, problem: .badURL("the embedded PostgreSQL is not running"))
                    ])
                }
                return embedded.with(database: String(text.dropFirst("embedded:".count)))
            }
            do {
                return try ConnectionURL(
                    parsing: text, environment: environment, pgpass: PgPass.load(environment: environment))
            } catch {
                throw TenantSourceErrors([
                    TenantSourceError(source: source, problem: .badURL("bad URL \(redactedURL(text)): \(error)"))
                ])
            }
        }
    }

    /// Runs the registry's query in a read-only transaction and returns its rows.
    func readRegistry(_ registry: RegistrySource, source: TenantSource) async throws -> [Row] {
        let url = try registryURL(registry, source: source)
        let query = Self.trimmedQuery(registry.query)
        let timeout = Int(statementTimeout.components.seconds) * 1000
        return try await withConnection(url, source: source) { connection, logger in
            _ = try await connection.query("START TRANSACTION READ ONLY", logger: logger).collect()
            _ = try await connection.query(
                PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(timeout)"), logger: logger
            ).collect()
            var rows: [Row] = []
            let result = try await connection.query(PostgresQuery(unsafeSQL: query), logger: logger)
            for try await row in result {
                var read = Row()
                for cell in row {
                    guard Self.columns.contains(cell.columnName) else {
                        read.unknown.append(cell.columnName)
                        continue
                    }
                    read.values[cell.columnName] = Self.value(of: cell)
                }
                rows.append(read)
            }
            _ = try? await connection.query("ROLLBACK", logger: logger).collect()
            return rows
        }
    }

    /// The schemas (or databases) on `shard` whose names match the source's pattern, sorted.
    func discover(_ discovery: DiscoverySource, shard: String, source: TenantSource) async throws -> [String] {
        guard let url = shardURLs[shard] else {
            throw TenantSourceErrors([
                TenantSourceError(source: source, problem: .shardNotDefined(shard, shards: fleet.shards.map(\.name)))
            ])
        }
        let pattern = discovery.pattern
        let excluded = Self.undiscoverableSchemas
        return try await withConnection(url, source: source) { connection, logger in
            let query: PostgresQuery
            switch discovery.kind {
            case .schemas:
                query = """
                    SELECT nspname::text FROM pg_catalog.pg_namespace
                    WHERE nspname LIKE \(pattern) AND nspname NOT LIKE 'pg\\_%' AND lower(nspname) <> ALL(\(excluded))
                    ORDER BY nspname
                    """
            case .databases:
                query = """
                    SELECT datname::text FROM pg_catalog.pg_database
                    WHERE datname LIKE \(pattern) AND NOT datistemplate AND datname <> 'postgres'
                    ORDER BY datname
                    """
            }
            var names: [String] = []
            for try await name in try await connection.query(query, logger: logger).decode(String.self) {
                names.append(name)
            }
            return names
        }
    }

    /// Opens one connection within the deadlines, runs `body`, closes it. A connection or query failure becomes a
    /// `TenantSourceErrors` naming the source (never a password).
    func withConnection<T: Sendable>(
        _ url: ConnectionURL, source: TenantSource,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws -> T {
        let logger = self.logger
        let connection: PostgresConnection
        do {
            connection = try await url.openConnection(deadlines: deadlines, logger: logger)
        } catch let error as ConnectionOpenError {
            throw TenantSourceErrors([
                TenantSourceError(source: source, problem: .database("cannot connect to \(error)", sqlState: nil))
            ])
        }
        defer { connection.close().whenComplete { _ in withExtendedLifetime(connection) {} } }
        do {
            return try await untilClosed(connection, endpoint: url.endpoint) { try await body(connection, logger) }
        } catch let error as TenantSourceErrors {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let failure = DatabaseFailure(error)
            throw TenantSourceErrors([
                TenantSourceError(
                    source: source,
                    problem: .database(
                        "\(url.endpoint)/\(url.database): \(failure.message)", sqlState: failure.sqlState))
            ])
        }
    }

    static func value(of cell: PostgresCell) -> Row.Value {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .text, .varchar, .name, .bpchar, .json, .jsonb, .uuid:
            return (try? cell.decode(String.self)).map(Row.Value.text) ?? .wrongType("\(cell.dataType)")
        case .int2, .int4, .int8:
            return (try? cell.decode(Int.self)).map { .text(String($0)) } ?? .wrongType("\(cell.dataType)")
        default:
            return .wrongType("\(cell.dataType)")
        }
    }

    /// The query without trailing whitespace and semicolons (one statement; the extended protocol takes no more).
    static func trimmedQuery(_ query: String) -> String {
        var text = Substring(query)
        while let last = text.last, last == ";" || last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}

/// Checks resolved tenants as `fleet.yaml`'s reader checks listed ones, and collects them.
struct TenantChecker {
    var tenants: [Tenant]
    var errors: [TenantSourceError] = []
    var unreported = 0
    /// Where each id was first given, for messages.
    private var firstGiven: [String: String] = [:]
    private var places: [PlacementKey: String] = [:]
    /// The last labels text parsed without a problem, and its map.
    private var lastLabels: (text: String, map: [String: String])?
    private let shards: Set<String>
    private let shardNames: [String]

    struct PlacementKey: Hashable {
        var shard: String
        var placement: Tenant.Placement
    }

    init(fleet: Fleet) {
        tenants = fleet.tenants
        shardNames = fleet.shards.map(\.name)
        shards = Set(shardNames)
        for tenant in fleet.tenants {
            firstGiven[tenant.id] = "at \(tenant.location)"
            places[PlacementKey(shard: tenant.shard, placement: tenant.placement)] = tenant.id
        }
    }

    mutating func fail(
        _ source: TenantSource, tenant: String? = nil, row: Int? = nil, problem: TenantSourceError.Problem
    ) {
        guard errors.count < TenantSources.maxReported else {
            unreported += 1
            return
        }
        errors.append(TenantSourceError(source: source, tenant: tenant, row: row, problem: problem))
    }

    mutating func add(row: TenantSources.Row, number: Int, source: TenantSource) {
        guard case .registry(let registry) = source else { return }
        // The id first: every other problem names it.
        let id: String
        switch row.values["id"] {
        case .none:
            fail(source, row: number, problem: .missingColumn("id"))
            return
        case .null:
            fail(source, row: number, problem: .null(column: "id"))
            return
        case .wrongType(let type):
            fail(source, row: number, problem: .wrongType(column: "id", type: type))
            return
        case .text(let value):
            id = value
        }
        let errorsBefore = errors.count + unreported
        for column in row.unknown { fail(source, tenant: id, row: number, problem: .unknownColumn(column)) }
        if let problem = Fleet.checkedName(id) {
            fail(source, tenant: id, row: number, problem: .invalidName(kind: "tenant id", name: id, problem: problem))
        }
        // Text columns: a wrong type or NULL is a problem of its own.
        var texts: [String: String] = [:]
        for column in ["shard", "schema", "database", "labels"] {
            switch row.values[column] {
            case .wrongType(let type):
                fail(source, tenant: id, row: number, problem: .wrongType(column: column, type: type))
            case .text(let value): texts[column] = value
            case .null, .none: break
            }
        }
        var shard = registry.defaultShard
        if row.values["shard"] != nil {
            if let value = texts["shard"] {
                shard = value
            } else if case .null = row.values["shard"], registry.defaultShard == nil {
                fail(source, tenant: id, row: number, problem: .null(column: "shard"))
            }
        } else if registry.defaultShard == nil {
            fail(source, tenant: id, row: number, problem: .missingColumn("shard"))
        }
        if let name = shard, !shards.contains(name) {
            fail(source, tenant: id, row: number, problem: .shardNotDefined(name, shards: shardNames))
        }
        var placement: Tenant.Placement?
        switch (texts["schema"], texts["database"]) {
        case (.some, .some):
            fail(source, tenant: id, row: number, problem: .schemaAndDatabase)
        case (.some(let schema), .none):
            if let problem = Fleet.checkedSchemaName(schema) {
                fail(
                    source, tenant: id, row: number,
                    problem: .invalidName(kind: "schema", name: schema, problem: problem))
            } else {
                placement = .schema(schema)
            }
        case (.none, .some(let database)):
            if let problem = tenantDatabaseProblem(database) {
                fail(
                    source, tenant: id, row: number,
                    problem: .invalidName(kind: "database", name: database, problem: problem))
            } else {
                placement = .database(database)
            }
        case (.none, .none):
            // A wrong type was reported above; a missing column or a NULL is reported here.
            switch (row.values["schema"], row.values["database"]) {
            case (.none, .none):
                fail(source, tenant: id, row: number, problem: .missingColumn("schema' or 'database"))
            case (.wrongType, _), (_, .wrongType): break
            case (.some, _): fail(source, tenant: id, row: number, problem: .null(column: "schema"))
            case (.none, .some): fail(source, tenant: id, row: number, problem: .null(column: "database"))
            }
        }
        var labels: [String: String] = [:]
        if let text = texts["labels"] {
            // Rows one after another often carry the same labels: the same text is parsed once.
            if let last = lastLabels, last.text == text {
                labels = last.map
            } else {
                switch Self.labels(text) {
                case .success(let map):
                    labels = map
                    lastLabels = (text, map)
                case .failure(let problem):
                    fail(source, tenant: id, row: number, problem: .badLabels(problem.message))
                }
            }
        }
        guard errors.count + unreported == errorsBefore, let shard, let placement else { return }
        append(
            Tenant(id: id, shard: shard, placement: placement, labels: labels, location: source.location),
            number: number, source: source)
    }

    mutating func add(
        discovered name: String, number: Int, shard: String, _ discovery: DiscoverySource, source: TenantSource
    ) {
        let id = discovery.id.id(for: name)
        if let problem = Fleet.checkedName(id) {
            fail(source, tenant: id, row: number, problem: .invalidName(kind: "tenant id", name: id, problem: problem))
            return
        }
        let placement: Tenant.Placement
        switch discovery.kind {
        case .schemas:
            if let problem = Fleet.checkedSchemaName(name) {
                fail(
                    source, tenant: id, row: number, problem: .invalidName(kind: "schema", name: name, problem: problem)
                )
                return
            }
            placement = .schema(name)
        case .databases:
            if let problem = tenantDatabaseProblem(name) {
                fail(
                    source, tenant: id, row: number,
                    problem: .invalidName(kind: "database", name: name, problem: problem))
                return
            }
            placement = .database(name)
        }
        append(
            Tenant(id: id, shard: shard, placement: placement, labels: discovery.labels, location: source.location),
            number: number, source: source)
    }

    private mutating func append(_ tenant: Tenant, number: Int, source: TenantSource) {
        if let first = firstGiven[tenant.id] {
            fail(source, tenant: tenant.id, row: number, problem: .duplicateID(firstAt: first))
            return
        }
        let key = PlacementKey(shard: tenant.shard, placement: tenant.placement)
        if let other = places[key] {
            fail(
                source, tenant: tenant.id, row: number,
                problem: .placementTaken(placement: tenant.placement, shard: tenant.shard, by: other))
            return
        }
        firstGiven[tenant.id] = "by \(source) row \(number)"
        places[key] = tenant.id
        tenants.append(tenant)
    }

    struct LabelProblem: Error {
        var message: String
    }

    /// A JSON object of strings, as labels are in `fleet.yaml`.
    static func labels(_ text: String) -> Result<[String: String], LabelProblem> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else {
            return .failure(LabelProblem(message: "are not JSON"))
        }
        guard let dictionary = object as? [String: Any] else {
            return .failure(LabelProblem(message: "are not a JSON object"))
        }
        var labels: [String: String] = [:]
        for (key, value) in dictionary {
            guard let string = value as? String else {
                return .failure(LabelProblem(message: "'\(key)' is not a string"))
            }
            labels[key] = string
        }
        return .success(labels)
    }
}
