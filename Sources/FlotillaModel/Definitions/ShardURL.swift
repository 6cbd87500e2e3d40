/// The checks a shard's or the control store's URL passes when a fleet is read, so that a typo fails `validate`
/// instead of the first connection of a rollout. The rules are those of the connection code (libpq's URL form):
/// `postgres://` or `postgresql://` with a host, an optional port in 1…65535 and a database (in the URL or as
/// `host=` / `dbname=` parameters), only the query parameters Flotilla passes on, a known `sslmode`; or, where
/// allowed, `embedded:DATABASE` on Flotilla's own PostgreSQL. Messages never show a password.
enum ShardURL {
    /// The query parameters a URL may carry (libpq's names, as the connection code accepts them).
    static let parameters = [
        "host", "port", "user", "password", "dbname", "sslmode", "application_name", "connect_timeout",
    ]
    static let sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

    /// What is wrong with `url`, or nil. `embedded` says whether `embedded:DATABASE` is allowed here.
    static func problem(_ url: String, embedded: Bool) -> String? {
        let shown = redactedURL(url)
        let expected =
            embedded ? "expected a postgres:// URL or embedded:DATABASE" : "expected a postgres:// or postgresql:// URL"
        if url.hasPrefix("embedded:") {
            guard embedded else { return "\(expected), found '\(shown)' (embedded: names a shard's database only)" }
            let database = String(url.dropFirst("embedded:".count))
            if let problem = identifierProblem(database, reserved: false) {
                return "embedded database name '\(database)' \(problem)"
            }
            return nil
        }
        guard let separator = url.firstRange(of: "://"),
            ["postgres", "postgresql"].contains(url[..<separator.lowerBound].lowercased())
        else { return "\(expected), found '\(shown)'" }
        // The user info runs to the last '@', as libpq reads it; a '/', '?' or '#' in it must be percent-encoded (the
        // connection code refuses it), and is not echoed: it is likely part of a password.
        var afterUser = Substring(url[separator.upperBound...])
        if let at = afterUser.lastIndex(of: "@") {
            if afterUser[..<at].contains(where: { "/?#".contains($0) }) {
                return "URL '\(shown)' has '/', '?' or '#' in its user name or password; percent-encode special "
                    + "characters (for example '/' as %2F, '?' as %3F, '@' as %40)"
            }
            afterUser = afterUser[afterUser.index(after: at)...]
        }
        if let hash = afterUser.firstIndex(of: "#") { afterUser = afterUser[..<hash] }
        var query: Substring = ""
        if let mark = afterUser.firstIndex(of: "?") {
            query = afterUser[afterUser.index(after: mark)...]
            afterUser = afterUser[..<mark]
        }
        let slash = afterUser.firstIndex(of: "/")
        let hostPort = slash.map { afterUser[..<$0] } ?? afterUser
        let path = slash.map { afterUser[afterUser.index(after: $0)...] } ?? ""

        var settings: [String: String] = [:]
        var unknown: [String] = []
        for item in query.split(separator: "&") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecoded(parts[0])
            guard parameters.contains(name) else {
                unknown.append(name)
                continue
            }
            settings[name] = parts.count > 1 ? percentDecoded(parts[1]) : ""
        }
        if !unknown.isEmpty {
            let names = unknown.map { "'\($0)'" }.joined(separator: ", ")
            return "URL '\(shown)' has unknown query parameter\(unknown.count > 1 ? "s" : "") \(names) "
                + "(supported: \(parameters.joined(separator: ", ")))"
        }

        var host = hostPort
        var port: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                return "URL '\(shown)' has an IPv6 host without its closing ']'"
            }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                port = after.dropFirst()
            } else if !after.isEmpty {
                return "URL '\(shown)' has '\(after)' after its IPv6 host; expected ':PORT'"
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            port = hostPort[hostPort.index(after: colon)...]
        }
        if host.contains(",") || settings["host"]?.contains(",") == true {
            return "URL '\(shown)' names several hosts; give one host per shard"
        }
        if host.isEmpty, settings["host"]?.isEmpty ?? true {
            return "URL '\(shown)' has no host (postgres://USER@HOST:PORT/DATABASE)"
        }
        for text in [port.map(String.init), settings["port"]].compactMap({ $0 }) where !text.isEmpty {
            guard let value = Int(text), (1...65535).contains(value) else {
                // Only digits are shown: 'postgres://user:secret/db' has its password where the port goes.
                let what = text.allSatisfy(\.isASCII) && text.allSatisfy(\.isNumber) ? "port \(text)" : "a port"
                return "URL '\(shown)' has \(what), which is not a number between 1 and 65535"
            }
        }
        if percentDecoded(path).isEmpty, settings["dbname"]?.isEmpty ?? true {
            return "URL '\(shown)' has no database name (postgres://USER@HOST:PORT/DATABASE)"
        }
        if let mode = settings["sslmode"], !sslModes.contains(mode) {
            let suggestion = closestMatch(to: mode, in: sslModes).map { " (did you mean '\($0)'?)" } ?? ""
            return "URL '\(shown)' has sslmode '\(mode)'\(suggestion); expected one of \(humanList(sslModes))"
        }
        if let timeout = settings["connect_timeout"], !timeout.isEmpty, (Int(timeout) ?? -1) < 0 {
            return "URL '\(shown)' has connect_timeout '\(timeout)', which is not a whole number of seconds"
        }
        return nil
    }

    /// `%40` → `@`; a malformed escape is kept as written.
    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count,
                let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A URL with any password (in the user info or a `password=` parameter) replaced by `***`, for messages.
public func redactedURL(_ url: String) -> String {
    guard let scheme = url.firstRange(of: "://") else { return url }
    var head = String(url[..<scheme.upperBound])
    var rest = Substring(url[scheme.upperBound...])
    // The user info runs to the last '@'; a password may hold '@', '/' or '?' itself, so when there is a ':' before
    // that '@', everything from it to the '@' goes (more than the password at worst, never less).
    if let at = rest.lastIndex(of: "@") {
        let userInfo = rest[..<at]
        if let colon = userInfo.firstIndex(of: ":") {
            head += rest[..<colon] + ":***"
            rest = rest[at...]
        }
    } else if !rest.hasPrefix("["), let colon = rest.prefix(while: { $0 != "/" && $0 != "?" }).lastIndex(of: ":") {
        // No '@': a ':' before anything but digits is a password without its host ('postgres://user:secret/db').
        let end = rest[colon...].firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let port = rest[rest.index(after: colon)..<end]
        if !port.allSatisfy({ $0.isASCII && $0.isNumber }) {
            head += rest[..<colon] + ":***"
            rest = rest[end...]
        }
    }
    guard let mark = rest.firstIndex(of: "?") else { return head + rest }
    let items = rest[rest.index(after: mark)...].split(separator: "&", omittingEmptySubsequences: false).map {
        item -> String in
        let name = item.split(separator: "=", maxSplits: 1).first.map { ShardURL.percentDecoded($0) } ?? ""
        return name == "password" ? "password=***" : String(item)
    }
    return head + rest[...mark] + items.joined(separator: "&")
}
