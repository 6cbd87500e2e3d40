import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// Where a command's databases are: the control store, and the embedded local PostgreSQL when a fleet (or the
/// control store) uses it. Started on demand, reused across runs, stopped by `flotilla down`.
public struct Session: Sendable {
    public let controlURL: ConnectionURL
    public let embeddedURL: ConnectionURL?
    public let environment: [String: String]
    public let logger: Logger

    /// The embedded server's folder: `$FLOTILLA_HOME/postgres`, default `.flotilla/postgres` in the current folder.
    ///
    /// As root the server runs as the `postgres` user, which may not be able to enter the current folder (a
    /// project under `/root`, mode 700). Then, unless `FLOTILLA_HOME` says where, the cluster lives in
    /// `/var/lib/flotilla/<the current folder's hash>/postgres` instead: still one per project folder, still kept.
    public static func embeddedDirectory(environment: [String: String]) -> URL {
        if let home = environment["FLOTILLA_HOME"].flatMap({ $0.isEmpty ? nil : $0 }) {
            return URL(fileURLWithPath: home).appendingPathComponent("postgres").standardizedFileURL
        }
        let local = URL(fileURLWithPath: ".flotilla").appendingPathComponent("postgres").standardizedFileURL
        guard EmbeddedPostgres.serverUserCannotReach(local) else { return local }
        let project = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL.path
        return URL(fileURLWithPath: "/var/lib/flotilla")
            .appendingPathComponent(String(SHA256.hex(of: project).prefix(16)))
            .appendingPathComponent("postgres")
    }

    /// Starts the embedded PostgreSQL (or finds it running) in `embeddedDirectory`, with Flotilla's own folder made
    /// traversable, so that the unprivileged server user can reach the cluster.
    public static func startEmbedded(environment: [String: String], logger: Logger) async throws -> (
        EmbeddedPostgres, ConnectionURL
    ) {
        let directory = embeddedDirectory(environment: environment)
        let home = directory.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: home.path) {
            try FileManager.default.createDirectory(
                at: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        } else if geteuid() == 0, let attributes = try? FileManager.default.attributesOfItem(atPath: home.path),
            let mode = attributes[.posixPermissions] as? Int, mode & 0o001 == 0
        {
            try? FileManager.default.setAttributes([.posixPermissions: mode | 0o011], ofItemAtPath: home.path)
        }
        let server = EmbeddedPostgres(directory: directory, logger: logger)
        return (server, try await server.start())
    }

    /// Resolves the control store: `fleet.control`, then `control`, then `FLOTILLA_CONTROL_URL`, else the embedded
    /// PostgreSQL's `flotilla` database. Starts the embedded server when the fleet or the control store needs it.
    public static func open(
        fleet: Fleet?, control: String?, environment: [String: String], logger: Logger
    ) async throws -> Session {
        let pgpass = PgPass.load(environment: environment)
        let controlText =
            fleet?.control ?? control ?? environment["FLOTILLA_CONTROL_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let needsEmbedded = controlText == nil || (fleet?.shards.contains { $0.url.hasPrefix("embedded:") } ?? false)
        var embedded: ConnectionURL?
        if needsEmbedded {
            let (server, url) = try await startEmbedded(environment: environment, logger: logger)
            embedded = url
            var databases = Set(
                fleet?.shards.compactMap { $0.url.hasPrefix("embedded:") ? String($0.url.dropFirst(9)) : nil } ?? [])
            if controlText == nil { databases.insert("flotilla") }
            for database in databases.sorted() { try await server.createDatabase(database) }
        }
        let controlURL: ConnectionURL
        if let controlText {
            do {
                controlURL = try ConnectionURL(parsing: controlText, environment: environment, pgpass: pgpass)
            } catch {
                throw RolloutError.message("control store: bad URL \(redactedURL(controlText)): \(error)")
            }
        } else if let embedded {
            controlURL = embedded.with(database: "flotilla")
            // Said first, on standard error (standard output may be JSON): a halt run elsewhere reaches only the
            // control store named in the fleet, --control or FLOTILLA_CONTROL_URL, never this one.
            FileHandle.standardError.write(
                Data(
                    "control store: the embedded PostgreSQL (\(embedded.endpoint)); name one with control: in the fleet, --control or FLOTILLA_CONTROL_URL for halts from other machines\n"
                        .utf8))
        } else {
            throw RolloutError.message("control store: none named and the embedded PostgreSQL did not start")
        }
        return Session(controlURL: controlURL, embeddedURL: embedded, environment: environment, logger: logger)
    }

    /// How long a command waits for the control store before it says it is unreachable.
    public var controlConnectTimeout: Duration = .seconds(4)

    /// Runs `body` with a migrated control store.
    ///
    /// One connection is opened first, within `controlConnectTimeout`: a control store that is down or unreachable
    /// is reported in seconds (`ControlStoreUnreachable`), not after the pool has retried for a minute.
    public func withControlStore<T: Sendable>(_ body: @escaping @Sendable (ControlStore) async throws -> T) async throws
        -> T
    {
        do {
            let connection = try await controlURL.openConnection(
                deadlines: ConnectionDeadlines(connect: controlConnectTimeout), logger: logger)
            try? await connection.close()
        } catch let error as ConnectionOpenError {
            throw ControlStoreUnreachable(url: controlURL, open: error)
        }
        var configuration = controlURL.clientConfiguration()
        configuration.options.connectTimeout = .seconds(3)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withRunningClients([client]) {
            let store = ControlStore(client: client, logger: logger)
            do {
                try await store.migrate()
            } catch {
                throw RolloutError.message("control store \(controlURL.redacted): \(DatabaseFailure(error).message)")
            }
            return try await body(store)
        }
    }

    /// The fleet's shard connections, running for as long as `body` runs.
    public func withFleet<T: Sendable>(
        _ fleet: Fleet, deadlines: ConnectionDeadlines = ConnectionDeadlines(),
        _ body: @escaping @Sendable (FleetConnections) async throws -> T
    ) async throws -> T {
        let connections = try FleetConnections(
            fleet: fleet, embedded: embeddedURL, environment: environment, deadlines: deadlines, logger: logger)
        return try await connections.run { try await body(connections) }
    }
}

/// The control store could not be reached: nothing was read or recorded.
public struct ControlStoreUnreachable: Error, Sendable, CustomStringConvertible {
    public var url: ConnectionURL
    public var open: ConnectionOpenError

    public var description: String {
        "control store \(url.endpoint)/\(url.database) unreachable: \(open.message)"
    }
}
