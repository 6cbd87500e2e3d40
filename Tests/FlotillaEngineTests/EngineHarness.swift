import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// Shared scaffolding of the engine's integration tests: fleets on the test cluster, a control store on a fresh
/// database, and a rollout driven exactly as the CLI drives it (inside `connections.run`).

let engineTestLogger: Logger = {
    var logger = Logger(label: "flotilla.engine-tests")
    logger.logLevel = .critical
    return logger
}()

let here = SourceLocation(file: "engine-tests", line: 1, column: 1)

/// Connection deadlines for the tests: the whole suite shares two cores, so opening a session may take seconds; a
/// refused connection still fails at once. (The window a lost server gets is the policy's `connect_timeout`.)
let testDeadlines = ConnectionDeadlines(connect: .seconds(30))

/// A name no other test of this process uses (for databases created by hand on the shared cluster).
func uniqueName(_ prefix: String) -> String {
    "\(prefix)_\(getpid())_\(String(UInt32.random(in: 0..<UInt32.max), radix: 36))"
}

func makeFleet(name: String, shards: [(name: String, url: ConnectionURL)], tenants: [Tenant], maxParallel: Int? = nil)
    -> Fleet
{
    Fleet(
        name: name, control: nil,
        shards: shards.map { Shard(name: $0.name, url: postgresURL($0.url), maxParallel: maxParallel, location: here) },
        tenants: tenants, file: "fleets/\(name)/fleet.yaml", location: here)
}

func schemaTenant(_ id: String, shard: String, labels: [String: String] = [:]) -> Tenant {
    Tenant(id: id, shard: shard, placement: .schema("tenant_\(id)"), labels: labels, location: here)
}

func parseChange(_ yaml: String) throws -> Change {
    do { return try Change.parse(yaml, file: "changes/test.yaml") } catch { throw TestFailure("change: \(error)") }
}

func parsePolicy(_ yaml: String) throws -> Policy {
    do { return try Policy.parse(yaml, file: "policies/test.yaml") } catch { throw TestFailure("policy: \(error)") }
}

func makePlan(_ fleet: Fleet, _ change: Change, _ policy: Policy) throws -> RolloutPlan {
    do { return try RolloutPlan.make(fleet: fleet, change: change, policy: policy) } catch {
        throw TestFailure("plan: \(error)")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Creates a schema per tenant with a `users (id bigserial, email, …)` table and `rows` users in it.
func createSchemaTenants(_ shard: ConnectionURL, schemas: [String], rows: Int, extra: String = "") throws {
    var sql = ""
    for schema in schemas {
        sql += """
            CREATE SCHEMA \(schema);
            CREATE TABLE \(schema).users (id bigserial PRIMARY KEY, email text NOT NULL);
            INSERT INTO \(schema).users (email) SELECT 'user' || g || '@\(schema).example' FROM generate_series(1, \(rows)) AS g;

            """
    }
    _ = try psql(shard, sql + extra)
}

/// The rows psql printed, one per line (empty output → no rows).
func lines(_ text: String) -> [String] {
    text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
}

/// Events the engine reported while it ran.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [RolloutEvent] = []

    func add(_ event: RolloutEvent) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    var all: [RolloutEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }
}

/// A fleet on the test cluster and its own control database.
struct Rig: Sendable {
    let fleet: Fleet
    let control: ConnectionURL

    init(fleet: Fleet, control: ConnectionURL) {
        self.fleet = fleet
        self.control = control
    }

    init(fleet: Fleet) async throws {
        self.fleet = fleet
        self.control = try await TestCluster.shared.freshDatabase(prefix: "ctl")
    }

    /// Runs `body` with a migrated control store and the fleet's running shard pools, as `flotilla rollout` does.
    func withEngine<T: Sendable>(
        observe: @escaping @Sendable (RolloutEvent) -> Void = { _ in },
        _ body: @escaping @Sendable (RolloutEngine, ControlStore, FleetConnections) async throws -> T
    ) async throws -> T {
        try await withTestEngine(fleet: fleet, control: control, logger: engineTestLogger, observe: observe, body)
    }

    /// One `flotilla rollout` run.
    func rollout(
        _ change: Change, _ policy: Policy, options: RolloutEngine.Options = RolloutEngine.Options(),
        events: EventLog? = nil
    ) async throws -> RolloutOutcome {
        let plan = try makePlan(fleet, change, policy)
        let observe: @Sendable (RolloutEvent) -> Void = { events?.add($0) }
        return try await withEngine(observe: observe) { engine, _, _ in
            try await engine.run(change: change, policy: policy, plan: plan, options: options)
        }
    }

    // MARK: reading the journal with psql

    func journal(_ sql: String) throws -> String { try psql(control, sql) }

    /// `tenant|state|attempts|sqlstate` per step of a phase, ordered by tenant.
    func steps(phase: String) throws -> [String: (state: String, attempts: Int, sqlState: String, checkpoint: String)] {
        var result: [String: (String, Int, String, String)] = [:]
        for line in lines(
            try journal(
                "SELECT tenant, state, attempts, coalesce(sqlstate, ''), coalesce(checkpoint::text, '') FROM flotilla.steps WHERE phase = '\(phase)' ORDER BY tenant"
            ))
        {
            let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            result[parts[0]] = (parts[1], Int(parts[2]) ?? -1, parts[3], parts[4])
        }
        return result
    }

    func rolloutState() throws -> String { try journal("SELECT string_agg(state, ',') FROM flotilla.rollouts") }

    func eventKinds() throws -> [String] { lines(try journal("SELECT kind FROM flotilla.events ORDER BY id")) }
}

/// Reads a tenant's own state with psql.
struct TenantProbe {
    let url: ConnectionURL
    let schema: String

    /// Schema-per-tenant: the tenant's schema on its shard.
    init(shard: ConnectionURL, schema: String) {
        self.url = shard
        self.schema = schema
    }

    /// Database-per-tenant: `public` in the tenant's database.
    init(database: String, on cluster: ConnectionURL) {
        self.url = cluster.with(database: database)
        self.schema = "public"
    }

    func query(_ sql: String) throws -> String { try psql(url, "SET search_path = \(schema); " + sql) }

    /// The data type of users.column, or nil when there is no such column.
    func columnType(_ column: String, table: String = "users") throws -> String? {
        let text = try psql(
            url,
            "SELECT data_type FROM information_schema.columns WHERE table_schema = '\(schema)' AND table_name = '\(table)' AND column_name = '\(column)'"
        )
        return text.isEmpty ? nil : text
    }

    var hasLedger: Bool {
        get throws { try psql(url, "SELECT to_regclass('\(schema).flotilla_history') IS NOT NULL") == "t" }
    }

    /// `phase|checksum|reverted` rows of the ledger, or none when it does not exist.
    func ledger(change: String) throws -> [(phase: String, checksum: String, reverted: Bool)] {
        guard try hasLedger else { return [] }
        return lines(
            try psql(
                url,
                "SELECT phase, checksum, reverted_at IS NOT NULL FROM \(schema).flotilla_history WHERE change = '\(change)' ORDER BY id"
            )
        ).map { line in
            let parts = line.split(separator: "|").map(String.init)
            return (parts[0], parts[1], parts[2] == "t")
        }
    }

    func liveLedger(change: String) throws -> [(phase: String, checksum: String)] {
        try ledger(change: change).filter { !$0.reverted }.map { ($0.phase, $0.checksum) }
    }
}

/// A migrated control store on `control` and the fleet's running shard pools, as `flotilla rollout` has them (the
/// pools outlive `body`, as in `Session`, so a cancelled body still journals how it stopped).
func withTestEngine<T: Sendable>(
    fleet: Fleet, control: ConnectionURL, logger: Logger, observe: @escaping @Sendable (RolloutEvent) -> Void,
    _ body: @escaping @Sendable (RolloutEngine, ControlStore, FleetConnections) async throws -> T
) async throws -> T {
    let connections = try FleetConnections(
        fleet: fleet, embedded: nil, environment: [:], deadlines: testDeadlines, logger: logger)
    let client = PostgresClient(configuration: control.clientConfiguration(), backgroundLogger: logger)
    return try await withRunningClients([client]) {
        let store = ControlStore(client: client, logger: logger)
        try await store.migrate()
        let engine = RolloutEngine(store: store, connections: connections, logger: logger, observe: observe)
        return try await connections.run { try await body(engine, store, connections) }
    }
}

/// Polls `condition` every `interval` until it holds or `limit` passes; returns whether it held.
///
/// The condition runs on ``BlockingWorkExecutor`` (threads of its own): conditions call `psql`, which blocks its
/// thread while the program runs, and the whole suite's pollers blocking the two threads of Swift's cooperative pool
/// would starve the code under test of them.
func eventually(
    within limit: Duration = .seconds(90), every interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await withTaskExecutorPreference(BlockingWorkExecutor.shared, operation: condition) { return true }
        try await Task.sleep(for: interval)
    }
    return try await withTaskExecutorPreference(BlockingWorkExecutor.shared, operation: condition)
}

/// Runs each job on a thread of its own, for test code that blocks (psql, child processes): never on the cooperative
/// pool's few threads.
final class BlockingWorkExecutor: TaskExecutor {
    static let shared = BlockingWorkExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        Thread.detachNewThread { job.runSynchronously(on: executor) }
    }
}

/// A session of its own on a database, outside the code under test (to hold locks, sample activity).
struct SideSession: Sendable {
    let connection: PostgresConnection

    static func open(_ url: ConnectionURL) async throws -> SideSession {
        let connection = try await PostgresConnection.connect(
            configuration: url.connectionConfiguration(), id: Int.random(in: 1..<Int(Int32.max)),
            logger: engineTestLogger)
        return SideSession(connection: connection)
    }

    func execute(_ sql: String) async throws {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: engineTestLogger)
        for try await _ in rows {}
    }

    /// Every row, its columns as text.
    func rows(_ sql: String) async throws -> [[String?]] {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: engineTestLogger)
        var result: [[String?]] = []
        for try await row in rows {
            var columns: [String?] = []
            for cell in row { columns.append(try cell.decode(String?.self)) }
            result.append(columns)
        }
        return result
    }

    func close() async { try? await connection.close() }
}
