import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct EmbeddedPostgresTests {
    let logger = Logger(label: "flotilla.test.embedded")

    /// As root, a folder closed to the `postgres` user (a project under a mode-700 home) is seen as unreachable,
    /// so the embedded cluster goes elsewhere; an open one is not.
    @Test func aFolderClosedToTheServerUserIsUnreachable() throws {
        let scratch = try makeScratchDirectory(prefix: "flotilla-reach")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let closed = scratch.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: closed, withIntermediateDirectories: false)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: closed.path)
        let open = scratch.appendingPathComponent("open")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: false)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: open.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratch.path)
        let isRoot = geteuid() == 0
        #expect(
            EmbeddedPostgres.serverUserCannotReach(closed.appendingPathComponent("project/.flotilla/postgres"))
                == isRoot)
        #expect(!EmbeddedPostgres.serverUserCannotReach(open.appendingPathComponent("project/.flotilla/postgres")))
    }

    @Test(.timeLimit(.minutes(10)))
    func startsConnectsReusesAndStops() async throws {
        let directory = try makeScratchDirectory(prefix: "flotilla-test-embedded")
        defer {
            EmbeddedPostgres.stopImmediately(directory: directory)
            try? FileManager.default.removeItem(at: directory)
        }
        let server = EmbeddedPostgres(directory: directory, durable: false, logger: logger)
        #expect(await server.url == nil)

        let url = try await server.start()
        #expect(url.host == "127.0.0.1")
        #expect(url.user == "flotilla")
        #expect(url.database == "postgres")
        #expect(url.password?.isEmpty == false)
        let portFile = try String(contentsOf: directory.appendingPathComponent("port"), encoding: .utf8)
        #expect(Int(portFile.trimmingCharacters(in: .whitespacesAndNewlines)) == url.port)
        #expect(await server.url == url)

        let answer = try await withPostgresClient(url, logger: logger) { client in
            var result: [Int] = []
            for try await value in try await client.query("SELECT 1", logger: logger).decode(Int.self) {
                result.append(value)
            }
            return result
        }
        #expect(answer == [1])

        // The settings it was started with.
        #expect(try psql(url, "SHOW fsync") == "off")
        #expect(try psql(url, "SHOW max_connections") == "300")
        #expect(try psql(url, "SHOW listen_addresses") == "127.0.0.1")
        #expect(try psql(url, "SHOW server_encoding") == "UTF8")
        #expect(try psql(url, "SHOW password_encryption") == "scram-sha-256")
        #expect(try psql(url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == "t")

        // Starting again, from this actor or another one on the same folder, reuses the server.
        let postmasterPID = try postmaster(in: directory)
        #expect(try await server.start() == url)
        async let first = server.start()
        async let second = server.start()
        #expect(try await [first, second] == [url, url])
        let other = EmbeddedPostgres(directory: directory, durable: false, logger: logger)
        let reused = try await other.start()
        #expect(reused.port == url.port)
        #expect(reused == url)
        #expect(try postmaster(in: directory) == postmasterPID)

        // Databases: created once, any name.
        let name = "tenant \"x\"; DROP DATABASE postgres; --"
        try await server.createDatabase(name)
        try await server.createDatabase(name)
        #expect(
            try psql(
                url,
                "SELECT count(*) FROM pg_database WHERE datname = '\(name.replacingOccurrences(of: "'", with: "''"))'")
                == "1")
        #expect(try psql(url.with(database: name), "SELECT current_database()") == name)

        // The password stays secret: a private file, never in the log or the URL's text.
        let password = try #require(url.password)
        let passwordFile = directory.appendingPathComponent("password")
        #expect(try mode(of: passwordFile) == 0o600)
        #expect(try String(contentsOf: passwordFile, encoding: .utf8) == password)
        let log = try String(contentsOf: directory.appendingPathComponent("postgres.log"), encoding: .utf8)
        #expect(!log.isEmpty)
        #expect(!log.contains(password))
        #expect(!url.description.contains(password))
        #expect(!String(reflecting: url).contains(password))

        if geteuid() == 0 {
            // PostgreSQL refuses root: the cluster belongs to the unprivileged user.
            #expect(try owner(of: directory.appendingPathComponent("data")) == "postgres")
        }

        try await server.stop()
        #expect(await server.url == nil)
        let refused = await #expect(throws: PostgresConnectError.self) {
            try await withPostgresConnection(url, logger: logger) { _ in }
        }
        #expect(refused?.description.contains("127.0.0.1:\(url.port)") == true)
        #expect(refused?.description.contains(password) == false)
        try await server.stop()

        // A stopped cluster starts again with the same password (and the same port while it is free).
        let restarted = try await server.start()
        #expect(restarted.password == password)
        #expect(try psql(restarted, "SELECT 1") == "1")
        #expect(try psql(restarted.with(database: name), "SELECT current_database()") == name)
        try await server.stop()
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("data/postmaster.pid").path))
    }

    @Test(.timeLimit(.minutes(10)))
    func twoStartsOnANewFolderMakeOneServer() async throws {
        let directory = try makeScratchDirectory(prefix: "flotilla-test-race")
        defer {
            EmbeddedPostgres.stopImmediately(directory: directory)
            try? FileManager.default.removeItem(at: directory)
        }
        // Two server objects, as two processes would have: one initdb, one server, one password.
        let first = EmbeddedPostgres(directory: directory, durable: false, logger: logger)
        let second = EmbeddedPostgres(directory: directory, durable: false, logger: logger)
        async let firstURL = first.start()
        async let secondURL = second.start()
        let urls = try await [firstURL, secondURL]
        #expect(urls[0] == urls[1])
        #expect(try psql(urls[1], "SELECT 1") == "1")
        try await first.stop()
        // The other one finds it stopped and has nothing left to do.
        try await second.stop()
    }

    @Test(.timeLimit(.minutes(10)))
    func explainsAFolderItCannotUse() async throws {
        let parent = try makeScratchDirectory(prefix: "flotilla-test-locked")
        defer {
            chmod(parent.path, 0o700)
            try? FileManager.default.removeItem(at: parent)
        }
        // As root only the postgres user is kept out of a 0700 folder; anyone else cannot create in 0500.
        let isRoot = geteuid() == 0
        chmod(parent.path, isRoot ? 0o700 : 0o500)
        let server = EmbeddedPostgres(
            directory: parent.appendingPathComponent("cluster"), durable: false, logger: logger)
        let error = await #expect(throws: EmbeddedPostgresError.self) {
            try await server.start()
        }
        #expect(error?.code == .directory)
        if isRoot {
            #expect(error?.description.contains("unprivileged user 'postgres'") == true, "\(String(describing: error))")
            #expect(error?.description.contains("chmod o+x \(parent.path)") == true, "\(String(describing: error))")
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func saysHowToInstallMissingBinaries() async throws {
        let directory = try makeScratchDirectory(prefix: "flotilla-test-nobinaries")
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = EmbeddedPostgres(
            directory: directory, logger: logger, binaries: PostgresBinaries(paths: [.psql: URL(fileURLWithPath: "/x")])
        )
        await #expect {
            try await server.start()
        } throws: { error in
            "\(error)"
                == "PostgreSQL server binaries not found (initdb, pg_ctl, postgres); install them with: apt-get install -y postgresql"
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func createDatabaseNeedsAStartedServer() async throws {
        let server = EmbeddedPostgres(directory: URL(fileURLWithPath: "/tmp/flotilla-never-started"), logger: logger)
        let error = await #expect(throws: EmbeddedPostgresError.self) {
            try await server.createDatabase("x")
        }
        #expect(error?.code == .notStarted)
    }

    private func postmaster(in directory: URL) throws -> String {
        let text = try String(contentsOf: directory.appendingPathComponent("data/postmaster.pid"), encoding: .utf8)
        return String(text.split(separator: "\n").first ?? "")
    }

    private func mode(of file: URL) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    private func owner(of file: URL) throws -> String? {
        try FileManager.default.attributesOfItem(atPath: file.path)[.ownerAccountName] as? String
    }
}
