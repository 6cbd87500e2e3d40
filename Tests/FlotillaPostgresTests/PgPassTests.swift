import FlotillaPostgres
import Foundation
import Testing

struct PgPassTests {
    static let content = """
        # comment line: ignore me:*:*:*:nope
        db.example.com:5432:tenants:app:first
        db.example.com:5432:tenants:app:shadowed
        db.example.com:*:*:admin:any-port-any-db
        *:6000:*:*:port-6000
        h\\:colon:5432:we\\\\ird:u\\:ser:pa\\:ss\\\\word
        \\*:5432:*:*:literal-star
        only:three:fields
        crlf.example.com:5432:db:app:crlf\r
        last:5432:db:app:trailing:ignored
        *:*:*:*:fallback
        """

    let pgpass = PgPass(parsing: content)

    @Test func firstMatchingLineWins() {
        #expect(pgpass.password(host: "db.example.com", port: 5432, database: "tenants", user: "app") == "first")
    }

    @Test func wildcardsMatchAnything() {
        #expect(pgpass.password(host: "db.example.com", port: 7777, database: "x", user: "admin") == "any-port-any-db")
        #expect(pgpass.password(host: "anywhere", port: 6000, database: "db", user: "someone") == "port-6000")
        #expect(pgpass.password(host: "nowhere", port: 1, database: "db", user: "someone") == "fallback")
    }

    @Test func escapesStandForTheCharacter() {
        #expect(pgpass.password(host: "h:colon", port: 5432, database: "we\\ird", user: "u:ser") == "pa:ss\\word")
        // An escaped star is a literal star, not a wildcard.
        #expect(pgpass.password(host: "*", port: 5432, database: "d", user: "u") == "literal-star")
        #expect(pgpass.password(host: "other", port: 5432, database: "d", user: "u") == "fallback")
    }

    @Test func skipsCommentsAndShortLinesAndHandlesCRLF() {
        #expect(!pgpass.entries.contains { $0.password == "nope" })
        #expect(!pgpass.entries.contains { $0.host == "only" })
        #expect(pgpass.password(host: "crlf.example.com", port: 5432, database: "db", user: "app") == "crlf")
        // As in libpq, an unescaped colon ends the password.
        #expect(pgpass.password(host: "last", port: 5432, database: "db", user: "app") == "trailing")
    }

    @Test func emptyFileMatchesNothing() {
        #expect(PgPass(parsing: "").password(host: "h", port: 5432, database: "d", user: "u") == nil)
    }

    @Test func loadsOnlyPrivateFiles() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("pgpass")
        try "h:5432:d:u:secret\n".write(to: file, atomically: true, encoding: .utf8)

        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        let loaded = PgPass.load(environment: ["PGPASSFILE": file.path])
        #expect(loaded?.password(host: "h", port: 5432, database: "d", user: "u") == "secret")

        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: file.path)
        #expect(PgPass.load(environment: ["PGPASSFILE": file.path]) != nil)

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        #expect(PgPass.load(environment: ["PGPASSFILE": file.path]) == nil)

        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: file.path)
        #expect(PgPass.load(environment: ["PGPASSFILE": file.path]) == nil)
    }

    @Test func findsTheFileInHomeUnlessPGPASSFILESaysOtherwise() throws {
        let home = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: home) }
        let file = home.appendingPathComponent(".pgpass")
        try "*:*:*:*:from-home\n".write(to: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)

        let fromHome = PgPass.load(environment: ["HOME": home.path])
        #expect(fromHome?.password(host: "h", port: 1, database: "d", user: "u") == "from-home")
        #expect(PgPass.load(environment: ["HOME": home.path, "PGPASSFILE": home.path + "/missing"]) == nil)
        #expect(PgPass.load(environment: [:]) == nil)
        // A folder is not a password file.
        #expect(PgPass.load(environment: ["PGPASSFILE": home.path]) == nil)
    }
}

/// A new private folder under the system's temporary folder.
func temporaryFolder() throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flotilla-pg-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}
