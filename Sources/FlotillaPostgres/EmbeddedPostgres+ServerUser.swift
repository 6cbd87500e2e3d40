import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// PostgreSQL refuses to run as root: when this process is root, the server programs run as the
/// unprivileged OS user `postgres` and the cluster folder belongs to it.
extension EmbeddedPostgres {
    static var isRoot: Bool { geteuid() == 0 }

    /// The command that runs a server program: directly, or as `postgres` through `runuser` when root.
    static func serverCommand(_ tool: URL, _ arguments: [String]) -> (URL, [String]) {
        guard isRoot else { return (tool, arguments) }
        let runuser = ProcessRunner.find("runuser") ?? URL(fileURLWithPath: "/usr/sbin/runuser")
        return (runuser, ["-u", serverOSUser, "--", tool.path] + arguments)
    }

    /// The environment for server programs: this process's, without `PG*` variables that would
    /// point them elsewhere, with messages in English.
    static func serverEnvironment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        environment["LC_ALL"] = "C"
        return environment
    }

    func runServerTool(_ tool: URL, _ arguments: [String]) async throws -> ProcessResult {
        if Self.isRoot && !announcedServerUser {
            announcedServerUser = true
            logger.info("running PostgreSQL as the unprivileged user '\(Self.serverOSUser)'")
        }
        let (executable, fullArguments) = Self.serverCommand(tool, arguments)
        logger.debug("running", metadata: ["command": "\(([executable.path] + fullArguments).joined(separator: " "))"])
        return try await ProcessRunner.run(
            executable, fullArguments, environment: Self.serverEnvironment(), currentDirectory: directory)
    }

    /// Creates the folder (mode 0700) and, when root, hands it to the `postgres` user and checks
    /// that this user can reach it.
    func prepareDirectory() async throws {
        do {
            // Folders on the way that do not exist yet are made passable (0711) for the server's user.
            var missing: [URL] = []
            var parent = directory.deletingLastPathComponent()
            while !FileManager.default.fileExists(atPath: parent.path), parent.path != "/" {
                missing.insert(parent, at: 0)
                parent = parent.deletingLastPathComponent()
            }
            for folder in missing {
                try FileManager.default.createDirectory(
                    at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o711])
            }
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw EmbeddedPostgresError(.directory, "cannot create \(directory.path): \(error.localizedDescription)")
        }
        guard Self.isRoot else { return }
        let account = try await ensureServerUser()
        guard let chown = ProcessRunner.find("chown") else {
            throw EmbeddedPostgresError(.directory, "chown not found")
        }
        let chowned = try await ProcessRunner.run(chown, ["-R", "\(Self.serverOSUser):", directory.path])
        guard chowned.succeeded else {
            throw EmbeddedPostgresError(
                .directory, "cannot hand \(directory.path) to the user '\(Self.serverOSUser)'",
                output: chowned.combinedOutput)
        }
        let (test, arguments) = Self.serverCommand(
            URL(fileURLWithPath: ProcessRunner.find("test")?.path ?? "/usr/bin/test"),
            ["-r", directory.path, "-a", "-w", directory.path, "-a", "-x", directory.path])
        let reachable = try await ProcessRunner.run(test, arguments)
        guard reachable.succeeded else {
            var message =
                "PostgreSQL refuses to run as root, so it runs as the unprivileged user '\(Self.serverOSUser)', "
                + "which cannot reach \(directory.path)"
            if let blocker = Self.unreachableAncestor(of: directory, uid: account.uid, gid: account.gid) {
                message +=
                    ": \(blocker.path) is not searchable by it (mode \(String(blocker.mode, radix: 8)), "
                    + "owner \(blocker.owner)); put the cluster somewhere it can reach, such as under /tmp, "
                    + "or open the way with: chmod o+x \(blocker.path)"
            }
            throw EmbeddedPostgresError(.directory, message, output: reachable.combinedOutput)
        }
    }

    /// Gives a file of the folder to the `postgres` user when root (it created nothing itself).
    func handToServerUser(_ file: URL) throws {
        guard Self.isRoot else { return }
        guard let account = Self.lookUpUser(Self.serverOSUser) else {
            throw EmbeddedPostgresError(.serverUser, "the user '\(Self.serverOSUser)' to run PostgreSQL does not exist")
        }
        guard chown(file.path, account.uid, account.gid) == 0 else {
            throw EmbeddedPostgresError(
                .directory,
                "cannot give \(file.path) to the user '\(Self.serverOSUser)': \(String(cString: strerror(errno)))")
        }
    }

    /// The `postgres` OS user, created with `useradd --system` if missing.
    private func ensureServerUser() async throws -> (uid: uid_t, gid: gid_t) {
        if let account = Self.lookUpUser(Self.serverOSUser) { return account }
        logger.info("creating the system user '\(Self.serverOSUser)' to run PostgreSQL")
        guard let useradd = ProcessRunner.find("useradd") else {
            throw EmbeddedPostgresError(
                .serverUser,
                "PostgreSQL cannot run as root and the user '\(Self.serverOSUser)' does not exist; "
                    + "useradd was not found to create it")
        }
        let result = try await ProcessRunner.run(
            useradd,
            [
                "--system", "--user-group", "--no-create-home", "--home-dir", "/var/lib/postgresql",
                "--shell", "/usr/sbin/nologin", Self.serverOSUser,
            ])
        guard result.succeeded || result.status == 9, let account = Self.lookUpUser(Self.serverOSUser) else {
            throw EmbeddedPostgresError(
                .serverUser, "could not create the system user '\(Self.serverOSUser)' to run PostgreSQL",
                output: result.combinedOutput)
        }
        return account
    }

    private static func lookUpUser(_ name: String) -> (uid: uid_t, gid: gid_t)? {
        guard let entry = getpwnam(name) else { return nil }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// Whether this process is root and the server's user (`postgres`) could not reach `directory`, because a
    /// folder on the way is closed to it — a project cloned under `/root`, say.
    public static func serverUserCannotReach(_ directory: URL) -> Bool {
        guard isRoot else { return false }
        // A user that does not exist yet gets only what every user gets.
        let account = lookUpUser(serverOSUser) ?? (uid_t.max, gid_t.max)
        return unreachableAncestor(of: directory.standardizedFileURL, uid: account.uid, gid: account.gid) != nil
    }

    /// The first folder on the way to `directory` that the user cannot enter (supplementary
    /// groups aside), to explain why it cannot reach it.
    private static func unreachableAncestor(of directory: URL, uid: uid_t, gid: gid_t)
        -> (path: String, mode: mode_t, owner: String)?
    {
        var path = ""
        for component in directory.pathComponents {
            path = path.isEmpty ? component : (path as NSString).appendingPathComponent(component)
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            let bit: mode_t = info.st_uid == uid ? S_IXUSR : (info.st_gid == gid ? S_IXGRP : S_IXOTH)
            if info.st_mode & bit == 0 {
                let owner = getpwuid(info.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "\(info.st_uid)"
                return (path, info.st_mode & 0o7777, owner)
            }
        }
        return nil
    }
}
