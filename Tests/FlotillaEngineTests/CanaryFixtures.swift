import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Fixtures of the canary-health tests: a schema-per-tenant fleet on the test cluster with its own control
/// database, the engine run as `flotilla rollout` runs it, and a small HTTP server on 127.0.0.1.

let canaryLogger: Logger = {
    var logger = Logger(label: "flotilla.canary-tests")
    logger.logLevel = .critical
    return logger
}()

let canaryHere = SourceLocation(file: "canary-tests", line: 1, column: 1)

struct CanaryError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func canaryChange(_ yaml: String) throws -> Change {
    do { return try Change.parse(yaml, file: "changes/canary.yaml") } catch { throw CanaryError("change: \(error)") }
}

func canaryPolicy(_ yaml: String) throws -> Policy {
    do { return try Policy.parse(yaml, file: "policies/canary.yaml") } catch { throw CanaryError("policy: \(error)") }
}

/// A fleet of schema-per-tenant tenants (`tenant_<id>`, each with `users (id, email)` and a `health (ok)` row)
/// on one or two shard databases, and a control database of its own.
struct CanaryRig: Sendable {
    let fleet: Fleet
    let control: ConnectionURL
    let shards: [String: ConnectionURL]

    /// `tenants`: id, shard name, wave label. Each tenant gets `rows` users and `health.ok = true`.
    static func make(
        _ name: String, shards shardNames: [String] = ["a", "b"], tenants: [(id: String, shard: String, wave: String)],
        rows: Int = 20
    ) async throws -> CanaryRig {
        var shards: [String: ConnectionURL] = [:]
        for shard in shardNames { shards[shard] = try await TestCluster.shared.freshDatabase(prefix: "cy_\(shard)") }
        let members = tenants.map { tenant in
            Tenant(
                id: tenant.id, shard: tenant.shard, placement: .schema("tenant_\(tenant.id)"),
                labels: ["wave": tenant.wave], location: canaryHere)
        }
        for (shard, url) in shards {
            var sql = ""
            for tenant in members where tenant.shard == shard {
                let schema = tenant.placement.name
                sql += """
                    CREATE SCHEMA \(schema);
                    CREATE TABLE \(schema).users (id bigserial PRIMARY KEY, email text NOT NULL);
                    INSERT INTO \(schema).users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, \(rows)) g;
                    CREATE TABLE \(schema).health (ok boolean);
                    INSERT INTO \(schema).health VALUES (true);

                    """
            }
            if !sql.isEmpty { _ = try psql(url, sql) }
        }
        let fleet = Fleet(
            name: name, control: nil,
            shards: shardNames.map { Shard(name: $0, url: postgresURL(shards[$0]!), location: canaryHere) },
            tenants: members, file: "fleets/\(name)/fleet.yaml", location: canaryHere)
        let control = try await TestCluster.shared.freshDatabase(prefix: "cy_ctl")
        return CanaryRig(fleet: fleet, control: control, shards: shards)
    }

    /// Runs `body` with a migrated control store and the fleet's running shard pools, as `flotilla rollout` does.
    func withEngine<T: Sendable>(
        observe: @escaping @Sendable (RolloutEvent) -> Void = { _ in },
        _ body: @escaping @Sendable (RolloutEngine, ControlStore) async throws -> T
    ) async throws -> T {
        try await withTestEngine(fleet: fleet, control: control, logger: canaryLogger, observe: observe) {
            engine, store, _ in try await body(engine, store)
        }
    }

    func rollout(
        _ change: Change, _ policy: Policy, options: RolloutEngine.Options = RolloutEngine.Options(),
        events: EventLog? = nil
    ) async throws -> RolloutOutcome {
        let plan: RolloutPlan
        do { plan = try RolloutPlan.make(fleet: fleet, change: change, policy: policy) } catch {
            throw CanaryError("plan: \(error)")
        }
        let observe: @Sendable (RolloutEvent) -> Void = { events?.add($0) }
        return try await withEngine(observe: observe) { engine, _ in
            try await engine.run(change: change, policy: policy, plan: plan, options: options)
        }
    }

    // MARK: reading back

    func journal(_ sql: String) throws -> String { try psql(control, sql) }

    /// `state` per tenant of a phase.
    func stepStates(_ phase: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for line in lines(
            try journal("SELECT tenant || '|' || state FROM flotilla.steps WHERE phase = '\(phase)' ORDER BY tenant"))
        {
            let parts = line.split(separator: "|").map(String.init)
            result[parts[0]] = parts[1]
        }
        return result
    }

    func eventKinds() throws -> [String] { lines(try journal("SELECT kind FROM flotilla.events ORDER BY id")) }

    func tenantsOf(wave: String) -> [Tenant] { fleet.tenants.filter { $0.labels["wave"] == wave } }

    func url(of tenant: Tenant) -> ConnectionURL { shards[tenant.shard]! }

    /// SQL in the tenant's schema.
    func query(_ tenant: Tenant, _ sql: String) throws -> String {
        try psql(url(of: tenant), "SET search_path = \(tenant.placement.name); " + sql)
    }

    /// The type of `users.column` in the tenant, or nil.
    func column(_ tenant: Tenant, _ column: String, table: String = "users") throws -> String? {
        let text = try psql(
            url(of: tenant),
            "SELECT data_type FROM information_schema.columns WHERE table_schema = '\(tenant.placement.name)' AND table_name = '\(table)' AND column_name = '\(column)'"
        )
        return text.isEmpty ? nil : text
    }

    /// `phase:live` or `phase:reverted` per ledger row of the change, oldest first; empty without a ledger.
    func ledger(_ tenant: Tenant, change: String) throws -> [String] {
        let schema = tenant.placement.name
        guard try psql(url(of: tenant), "SELECT to_regclass('\(schema).flotilla_history') IS NOT NULL") == "t" else {
            return []
        }
        return lines(
            try psql(
                url(of: tenant),
                "SELECT phase || ':' || CASE WHEN reverted_at IS NULL THEN 'live' ELSE 'reverted' END FROM \(schema).flotilla_history WHERE change = '\(change)' ORDER BY id"
            ))
    }

    func hasLedger(_ tenant: Tenant) throws -> Bool {
        try psql(url(of: tenant), "SELECT to_regclass('\(tenant.placement.name).flotilla_history') IS NOT NULL") == "t"
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (an ephemeral port), one connection at a time, `Connection: close`.
/// `respond` gets the request target (`/health?tenant=t1`) and returns a status and a body.
final class CanaryHTTPServer: @unchecked Sendable {
    let port: Int
    private let socket: Int32
    private let lock = NSLock()
    private var targets: [String] = []
    private var messages: [Message] = []
    private var respond: @Sendable (String) -> (Int, String)

    init(_ respond: @escaping @Sendable (String) -> (Int, String)) throws {
        self.respond = respond
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CanaryError("socket: \(errno)") }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw CanaryError("bind/listen: \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        socket = descriptor
        Thread.detachNewThread { [self] in serve() }
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// Request targets served so far, in order.
    var requests: [String] {
        lock.lock()
        defer { lock.unlock() }
        return targets
    }

    /// A request as received: its head (request line and headers) and its body (read by Content-Length).
    struct Message: Sendable {
        var head: String
        var body: [UInt8]

        /// The value of header `name` (case-insensitive), if sent.
        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                if line[..<colon].lowercased() == name.lowercased() {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    /// Requests served so far, in order, with their headers and bodies.
    var received: [Message] {
        lock.lock()
        defer { lock.unlock() }
        return messages
    }

    func setResponder(_ respond: @escaping @Sendable (String) -> (Int, String)) {
        lock.lock()
        self.respond = respond
        lock.unlock()
    }

    /// Wakes the accepting thread, which then closes the socket itself: closing it here would let the number be
    /// reused by another server's socket while that thread is about to call `accept` on it again.
    func stop() {
        shutdown(socket, Int32(SHUT_RDWR))
    }

    private func serve() {
        defer { close(socket) }
        while true {
            let connection = accept(socket, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            handle(connection)
        }
    }

    private func handle(_ connection: Int32) {
        defer { close(connection) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.containsHeaderEnd {
            let count = read(connection, &buffer, buffer.count)
            if count <= 0 { return }
            received += buffer[..<count]
        }
        let head = String(decoding: received, as: UTF8.self)
        let target = head.split(separator: " ", maxSplits: 2).dropFirst().first.map(String.init) ?? "/"
        var message = Message(head: head, body: [])
        if let end = received.headerEnd {
            message.head = String(decoding: received[..<end], as: UTF8.self)
            message.body = Array(received[(end + 4)...])
            let length = message.header("Content-Length").flatMap { Int($0) } ?? 0
            while message.body.count < length {
                let count = read(connection, &buffer, buffer.count)
                if count <= 0 { break }
                message.body += buffer[..<count]
            }
        }
        lock.lock()
        targets.append(target)
        messages.append(message)
        let respond = self.respond
        lock.unlock()
        let (status, body) = respond(target)
        let bytes = Array(body.utf8)
        let response =
            "HTTP/1.1 \(status) \(status == 200 ? "OK" : "Status")\r\nContent-Type: text/plain\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n"
        let all = Array(response.utf8) + bytes
        var sent = 0
        while sent < all.count {
            let count = all[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return }
            sent += count
        }
    }
}

extension Array where Element == UInt8 {
    /// Where the blank line ending an HTTP head starts.
    fileprivate var headerEnd: Int? {
        guard count >= 4 else { return nil }
        for index in 0...(count - 4)
        where self[index] == 13 && self[index + 1] == 10 && self[index + 2] == 13 && self[index + 3] == 10 {
            return index
        }
        return nil
    }

    fileprivate var containsHeaderEnd: Bool {
        guard count >= 4 else { return false }
        for index in 0...(count - 4)
        where self[index] == 13 && self[index + 1] == 10 && self[index + 2] == 13 && self[index + 3] == 10 {
            return true
        }
        return false
    }
}
