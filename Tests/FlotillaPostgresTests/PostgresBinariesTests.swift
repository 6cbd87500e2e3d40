import FlotillaPostgres
import Foundation
import Testing

struct PostgresBinariesTests {
    /// Makes an executable file (a shell script) at `path`.
    private func makeExecutable(_ path: URL) throws {
        try FileManager.default.createDirectory(
            at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "#!/bin/sh\nexit 0\n".write(to: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path.path)
    }

    @Test func prefersPathThenTheHighestVersion() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let versions = root.appendingPathComponent("lib/postgresql")
        for version in ["9.6", "15", "16", "not-a-version"] {
            for tool in PostgresBinaries.Tool.allCases {
                try makeExecutable(versions.appendingPathComponent("\(version)/bin/\(tool.rawValue)"))
            }
        }
        let onPath = root.appendingPathComponent("bin")
        try makeExecutable(onPath.appendingPathComponent("psql"))

        let binaries = PostgresBinaries.locate(
            environment: ["PATH": "/nonexistent:\(onPath.path)"], versionedRoot: versions.path)
        #expect(binaries[.psql] == onPath.appendingPathComponent("psql"))
        #expect(binaries[.initdb]?.path == versions.path + "/16/bin/initdb")
        #expect(binaries[.pgCtl]?.path == versions.path + "/16/bin/pg_ctl")
        #expect(binaries[.pgbench]?.path == versions.path + "/16/bin/pgbench")
    }

    @Test func serverProgramsComeFromOneInstallation() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let versions = root.appendingPathComponent("lib/postgresql")
        for tool in PostgresBinaries.Tool.server {
            try makeExecutable(versions.appendingPathComponent("15/bin/\(tool.rawValue)"))
            try makeExecutable(versions.appendingPathComponent("16/bin/\(tool.rawValue)"))
        }
        // initdb on PATH is a link into version 15, so pg_ctl and postgres must be 15's too.
        let onPath = root.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: onPath, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: onPath.appendingPathComponent("initdb"),
            withDestinationURL: versions.appendingPathComponent("15/bin/initdb"))

        let binaries = PostgresBinaries.locate(environment: ["PATH": onPath.path], versionedRoot: versions.path)
        #expect(binaries[.initdb] == onPath.appendingPathComponent("initdb"))
        #expect(binaries[.pgCtl]?.resolvingSymlinksInPath().path.hasSuffix("/15/bin/pg_ctl") == true)
        #expect(binaries[.postgres]?.resolvingSymlinksInPath().path.hasSuffix("/15/bin/postgres") == true)
    }

    @Test func missingProgramsSayHowToInstallThem() throws {
        let binaries = PostgresBinaries.locate(environment: ["PATH": "/nonexistent"], versionedRoot: "/nonexistent")
        #expect(binaries.paths.isEmpty)
        #expect {
            try binaries.require([.initdb, .pgCtl])
        } throws: { error in
            "\(error)"
                == "PostgreSQL server binaries not found (initdb, pg_ctl); install them with: apt-get install -y postgresql"
        }
        #expect {
            try binaries.path(for: .psql)
        } throws: { error in
            "\(error)"
                == "PostgreSQL client binaries not found (psql); install them with: apt-get install -y postgresql"
        }
    }

    @Test func findsTheInstalledPostgreSQL() throws {
        // The machine's own installation: every program the project uses must be there.
        let binaries = PostgresBinaries.locate()
        try binaries.require(PostgresBinaries.Tool.allCases)
        for tool in PostgresBinaries.Tool.allCases {
            #expect(FileManager.default.isExecutableFile(atPath: try binaries.path(for: tool).path))
        }
    }
}
