import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A libpq password file (`~/.pgpass`): lines of `host:port:database:user:password`.
///
/// As in libpq: `*` in any of the first four fields matches anything, `\:` and `\\` stand for a
/// literal colon and backslash, lines starting with `#` are comments, lines with fewer than five
/// fields are skipped, and the first matching line wins.
public struct PgPass: Sendable, Hashable {
    /// One line of the file. A `nil` field is the wildcard `*`.
    public struct Entry: Sendable, Hashable {
        public var host: String?
        public var port: String?
        public var database: String?
        public var user: String?
        public var password: String

        public init(host: String?, port: String?, database: String?, user: String?, password: String) {
            self.host = host
            self.port = port
            self.database = database
            self.user = user
            self.password = password
        }

        func matches(host: String, port: String, database: String, user: String) -> Bool {
            (self.host == nil || self.host == host) && (self.port == nil || self.port == port)
                && (self.database == nil || self.database == database) && (self.user == nil || self.user == user)
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Parses the content of a password file.
    public init(parsing content: String) {
        var entries: [Entry] = []
        for rawLine in content.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let fields = Self.fields(of: line) else { continue }
            func field(_ index: Int) -> String? {
                fields[index].wildcard ? nil : fields[index].text
            }
            entries.append(
                Entry(host: field(0), port: field(1), database: field(2), user: field(3), password: fields[4].text))
        }
        self.entries = entries
    }

    /// Splits a line into its five fields, unescaping `\x` to `x`. `nil` when the line has fewer
    /// than five fields.
    private static func fields(of line: Substring) -> [(text: String, wildcard: Bool)]? {
        var fields: [(text: String, wildcard: Bool)] = []
        var current = ""
        var escapedSomething = false
        var iterator = line.makeIterator()
        while let character = iterator.next() {
            if character == "\\" {
                if let next = iterator.next() {
                    current.append(next)
                    escapedSomething = true
                }
            } else if character == ":" {
                // As in libpq, an unescaped colon also ends the password: the rest of the line is ignored.
                if fields.count == 4 { break }
                fields.append((current, current == "*" && !escapedSomething))
                current = ""
                escapedSomething = false
            } else {
                current.append(character)
            }
        }
        guard fields.count == 4 else { return nil }
        fields.append((current, false))
        return fields
    }

    /// The password of the first entry that matches, or `nil`.
    public func password(host: String, port: Int, database: String, user: String) -> String? {
        let port = String(port)
        return entries.first { $0.matches(host: host, port: port, database: database, user: user) }?.password
    }

    /// Reads the password file libpq would read: `PGPASSFILE`, else `$HOME/.pgpass`.
    ///
    /// Returns `nil` when there is no such file, it cannot be read, or, like libpq, when it is not
    /// a regular file or group or others may access it (mode wider than 0600); those last two are
    /// logged as warnings when a logger is given.
    public static func load(environment: [String: String], logger: Logger? = nil) -> PgPass? {
        let path: String
        if let file = environment["PGPASSFILE"], !file.isEmpty {
            path = file
        } else if let home = environment["HOME"], !home.isEmpty {
            path = (home as NSString).appendingPathComponent(".pgpass")
        } else {
            return nil
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            logger?.warning("password file is not a plain file; ignoring it", metadata: ["path": "\(path)"])
            return nil
        }
        guard info.st_mode & (S_IRWXG | S_IRWXO) == 0 else {
            logger?.warning(
                "password file has group or world access; ignoring it (permissions should be u=rw, 0600 or less)",
                metadata: ["path": "\(path)"])
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return PgPass(parsing: String(decoding: data, as: UTF8.self))
    }
}
