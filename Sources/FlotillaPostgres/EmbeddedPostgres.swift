import Foundation
import Logging
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A private PostgreSQL server in a folder of its own, for `flotilla demo`, a local control store
/// and tests.
///
/// The folder holds `data/` (the cluster), `password` (the superuser's random password, mode
/// 0600, never printed or logged), `port`, `postgres.log` and, when the path is short enough, the
/// Unix socket. ``start()`` creates the cluster on first use and reuses a server that is already
/// running in the folder (from this process or another one).
///
/// PostgreSQL refuses to run as root. When this process is root, `initdb` and `pg_ctl` run as the
/// unprivileged OS user `postgres` (created if missing) through `runuser`, and the folder is
/// handed to that user.
public actor EmbeddedPostgres {
    /// The superuser role the cluster is created with.
    public static let superuser = "flotilla"
    /// The OS user the server runs as when this process is root.
    public static let serverOSUser = "postgres"

    public nonisolated let directory: URL
    /// Whether the server syncs to disk. `false` turns off `fsync`, `synchronous_commit` and
    /// `full_page_writes`: much faster, and a crash of the machine may lose the cluster.
    public nonisolated let durable: Bool
    /// The server's `max_connections`.
    public nonisolated let maxConnections: Int
    let logger: Logger
    private let givenBinaries: PostgresBinaries?

    /// The superuser URL of the running server, once ``start()`` returned.
    public private(set) var url: ConnectionURL?

    private var starting: Task<ConnectionURL, any Error>?
    var announcedServerUser = false

    /// - Parameters:
    ///   - directory: the folder of the cluster; created if missing.
    ///   - durable: `false` for throwaway clusters (tests): no fsync.
    ///   - logger: where progress goes; the password never does.
    ///   - binaries: the PostgreSQL programs; found with ``PostgresBinaries/locate(environment:versionedRoot:)`` when `nil`.
    public init(
        directory: URL, durable: Bool = true, maxConnections: Int = 300, logger: Logger,
        binaries: PostgresBinaries? = nil
    ) {
        self.maxConnections = maxConnections
        self.directory = directory.standardizedFileURL
        self.durable = durable
        self.logger = logger
        self.givenBinaries = binaries
    }

    public nonisolated var dataDirectory: URL { directory.appendingPathComponent("data") }
    public nonisolated var logFile: URL { directory.appendingPathComponent("postgres.log") }
    public nonisolated var passwordFile: URL { directory.appendingPathComponent("password") }
    public nonisolated var portFile: URL { directory.appendingPathComponent("port") }

    // MARK: - Start

    /// Starts the server (creating the cluster on first use) and returns its superuser URL:
    /// user `flotilla`, database `postgres`, host 127.0.0.1, `sslmode=disable`.
    ///
    /// A server already running in the folder is reused when it accepts the stored password.
    public func start() async throws -> ConnectionURL {
        if let starting { return try await starting.value }
        // Unstructured on purpose: callers that arrive while the server starts wait for this one start.
        let task = Task { try await self.startOnce() }
        starting = task
        defer { starting = nil }
        return try await task.value
    }

    private func startOnce() async throws -> ConnectionURL {
        if let url, await answers(url) { return url }
        url = nil
        let binaries = try requireServerBinaries()
        try await prepareDirectory()
        // Another process may be starting the same cluster: one at a time, the later one reuses it.
        let lock = try await lockDirectory()
        defer { close(lock) }

        if FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            if try await isRunning(binaries) {
                let candidate = try makeURL(port: try runningPort())
                guard await answers(candidate) else {
                    throw EmbeddedPostgresError(
                        .cluster,
                        "a PostgreSQL server is running on \(dataDirectory.path) (port \(candidate.port)) "
                            + "but does not accept user '\(Self.superuser)' with the password in \(passwordFile.path)",
                        logTail: logTail())
                }
                logger.info(
                    "reusing the running embedded PostgreSQL",
                    metadata: ["directory": "\(directory.path)", "port": "\(candidate.port)"])
                url = candidate
                return candidate
            }
            guard FileManager.default.fileExists(atPath: passwordFile.path) else {
                throw EmbeddedPostgresError(
                    .cluster,
                    "\(dataDirectory.path) holds a cluster but its password file \(passwordFile.path) is missing; "
                        + "remove \(directory.path) to start afresh")
            }
        } else {
            try await initialize(binaries)
        }
        let candidate = try await launch(binaries)
        url = candidate
        return candidate
    }

    /// Creates the cluster: a fresh random superuser password, then `initdb`.
    private func initialize(_ binaries: PostgresBinaries) async throws {
        try writePasswordFile(Self.randomPassword())
        logger.info("creating the embedded PostgreSQL cluster", metadata: ["directory": "\(dataDirectory.path)"])
        let result = try await runServerTool(
            binaries.path(for: .initdb),
            [
                "-D", dataDirectory.path, "-U", Self.superuser, "--auth=scram-sha-256",
                "--pwfile=\(passwordFile.path)", "-E", "UTF8", "--locale=C",
            ])
        guard result.succeeded else {
            throw EmbeddedPostgresError(
                .initdb, "initdb failed for \(dataDirectory.path) (exit \(result.status))",
                output: redact(result.combinedOutput))
        }
    }

    /// `pg_ctl start` on a free port of 127.0.0.1, trying another port if the chosen one was taken meanwhile.
    private func launch(_ binaries: PostgresBinaries) async throws -> ConnectionURL {
        let pgCtl = try binaries.path(for: .pgCtl)
        let previousPort = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let attempts = 3
        for attempt in 1...attempts {
            var port = try Self.freePort()
            if attempt == 1, let previousPort, Self.isFree(port: previousPort) { port = previousPort }
            try "\(port)\n".write(to: portFile, atomically: true, encoding: .utf8)
            try handToServerUser(portFile)
            let logOffset = Self.fileSize(logFile)
            logger.info(
                "starting the embedded PostgreSQL",
                metadata: ["directory": "\(directory.path)", "port": "\(port)", "durable": "\(durable)"])
            let result = try await runServerTool(
                pgCtl,
                [
                    "-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "start",
                    "-o", serverOptions(port: port),
                ])
            if result.succeeded {
                let candidate = try makeURL(port: port)
                for _ in 0..<50 {
                    if await answers(candidate) { return candidate }
                    try await Task.sleep(for: .milliseconds(100))
                }
                throw EmbeddedPostgresError(
                    .start, "PostgreSQL started on port \(port) but does not accept connections",
                    logTail: logTail(from: logOffset))
            }
            let tail = logTail(from: logOffset)
            let portTaken = tail.contains("could not bind") || tail.contains("already in use")
            if portTaken && attempt < attempts {
                logger.debug("port taken meanwhile; trying another", metadata: ["port": "\(port)"])
                continue
            }
            throw EmbeddedPostgresError(
                .start,
                "pg_ctl could not start PostgreSQL for \(dataDirectory.path) on port \(port) (exit \(result.status))",
                output: redact(result.combinedOutput), logTail: tail)
        }
        preconditionFailure("unreachable: the last attempt returns or throws")
    }

    /// The `-o` options for `postgres`, quoted for the shell that `pg_ctl` starts it with.
    private func serverOptions(port: Int) -> String {
        // A Unix socket path must fit in sun_path; PostgreSQL names it DIR/.s.PGSQL.PORT.
        let socketDirectory =
            "\(directory.path)/.s.PGSQL.\(port)".utf8.count < 100 ? directory.path : ""
        var options = [
            "-p", "\(port)", "-c", "listen_addresses=127.0.0.1", "-k", socketDirectory,
            "-c", "max_connections=\(maxConnections)",
        ]
        if !durable {
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        }
        return options.map(Self.shellQuote).joined(separator: " ")
    }

    /// Takes an exclusive `flock` on `DIR/start.lock`, polling so no thread blocks. Released
    /// when the returned descriptor is closed (or the process ends).
    private func lockDirectory() async throws -> Int32 {
        let path = directory.appendingPathComponent("start.lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw EmbeddedPostgresError(.directory, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var waited = Duration.zero
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, waited < .seconds(120) else {
                close(descriptor)
                throw EmbeddedPostgresError(.start, "another process holds \(path) and does not let go")
            }
            if waited == .zero {
                logger.info(
                    "waiting for another process that is starting the same cluster", metadata: ["lock": "\(path)"])
            }
            try await Task.sleep(for: .milliseconds(100))
            waited += .milliseconds(100)
        }
        return descriptor
    }

    // MARK: - Stop

    /// Stops the server (`pg_ctl stop -m fast`): open sessions are rolled back. Nothing to do when
    /// it is not running.
    public func stop() async throws {
        if let starting { _ = try? await starting.value }
        defer { url = nil }
        guard FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) else {
            return
        }
        let binaries = try requireServerBinaries()
        guard try await isRunning(binaries) else { return }
        logger.info("stopping the embedded PostgreSQL", metadata: ["directory": "\(directory.path)"])
        let result = try await runServerTool(
            binaries.path(for: .pgCtl), ["-D", dataDirectory.path, "-m", "fast", "-w", "-t", "60", "stop"])
        if !result.succeeded, try await isRunning(binaries) {
            throw EmbeddedPostgresError(
                .stop, "pg_ctl could not stop PostgreSQL in \(dataDirectory.path) (exit \(result.status))",
                output: redact(result.combinedOutput), logTail: logTail())
        }
    }

    /// Stops a cluster at once (`pg_ctl stop -m immediate`), synchronously and ignoring every
    /// failure: for exit handlers that clean up a throwaway cluster.
    package nonisolated static func stopImmediately(directory: URL) {
        let data = directory.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: data.appendingPathComponent("postmaster.pid").path),
            let pgCtl = PostgresBinaries.locate()[.pgCtl]
        else { return }
        let (executable, arguments) = serverCommand(pgCtl, ["-D", data.path, "-m", "immediate", "-w", "stop"])
        _ = try? ProcessRunner.run(
            executable, arguments, environment: serverEnvironment(), currentDirectory: URL(fileURLWithPath: "/"))
    }

    // MARK: - Databases

    /// Creates a database unless it exists. The name is quoted, so any name is safe.
    public func createDatabase(_ name: String) async throws {
        guard let url else {
            throw EmbeddedPostgresError(.notStarted, "start the embedded PostgreSQL before creating databases")
        }
        let logger = self.logger
        try await withPostgresConnection(url, logger: logger) { connection in
            let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger)
            var exists = false
            for try await _ in rows { exists = true }
            guard !exists else { return }
            do {
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(name))"), logger: logger)
            } catch {
                // 42P04: created meanwhile by someone else, which is what was asked for.
                guard postgresSQLState(error) == "42P04" else { throw error }
            }
        }
    }

    // MARK: - Helpers

    private func requireServerBinaries() throws -> PostgresBinaries {
        let binaries = givenBinaries ?? PostgresBinaries.locate()
        try binaries.require(PostgresBinaries.Tool.server)
        return binaries
    }

    private func makeURL(port: Int) throws -> ConnectionURL {
        let password: String
        do {
            password = try String(contentsOf: passwordFile, encoding: .utf8).trimmingCharacters(in: .newlines)
        } catch {
            throw EmbeddedPostgresError(.cluster, "cannot read the password file \(passwordFile.path)")
        }
        return ConnectionURL(
            host: "127.0.0.1", port: port, user: Self.superuser, password: password, database: "postgres",
            sslMode: .disable)
    }

    private func answers(_ url: ConnectionURL) async -> Bool {
        do {
            return try await withPostgresConnection(url, logger: logger) { connection in
                // Rows must be read: a statement's errors surface while they are.
                let rows = try await connection.query("SELECT 1", logger: logger).collect()
                return rows.count == 1
            }
        } catch {
            return false
        }
    }

    /// `pg_ctl status`: 0 running, 3 not running.
    private func isRunning(_ binaries: PostgresBinaries) async throws -> Bool {
        try await runServerTool(binaries.path(for: .pgCtl), ["-D", dataDirectory.path, "status"]).succeeded
    }

    /// The port of the running server, from `postmaster.pid` (line 4), else the `port` file.
    private func runningPort() throws -> Int {
        let pidFile = dataDirectory.appendingPathComponent("postmaster.pid")
        if let text = try? String(contentsOf: pidFile, encoding: .utf8) {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.count > 3, let port = Int(lines[3].trimmingCharacters(in: .whitespaces)) { return port }
        }
        if let text = try? String(contentsOf: portFile, encoding: .utf8),
            let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return port
        }
        throw EmbeddedPostgresError(.cluster, "cannot tell the port of the server running on \(dataDirectory.path)")
    }

    private func writePasswordFile(_ password: String) throws {
        unlink(passwordFile.path)
        let descriptor = open(passwordFile.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw EmbeddedPostgresError(
                .directory, "cannot create \(passwordFile.path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array(password.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else {
            throw EmbeddedPostgresError(
                .directory, "cannot write \(passwordFile.path): \(String(cString: strerror(errno)))")
        }
        try handToServerUser(passwordFile)
    }

    private static func randomPassword() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// Replaces the superuser password, should it ever appear in some output, by `***`.
    private func redact(_ text: String) -> String {
        guard let password = try? String(contentsOf: passwordFile, encoding: .utf8), !password.isEmpty else {
            return text
        }
        return text.replacingOccurrences(of: password, with: "***")
    }

    private func logTail(from offset: Int = 0, lines: Int = 30) -> String {
        guard let handle = try? FileHandle(forReadingFrom: logFile) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(max(0, offset)))
        let data = (try? handle.readToEnd()) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        return redact(text.split(separator: "\n").suffix(lines).joined(separator: "\n"))
    }

    private static func fileSize(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    static func shellQuote(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_=./:-,".contains($0)) }
        if plain && !word.isEmpty { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
