import Foundation

extension ConnectionURL {
    /// The query parameters a URL may carry (libpq's names).
    public static let supportedParameters = [
        "host", "port", "user", "password", "dbname", "sslmode", "application_name", "connect_timeout",
    ]

    /// Parses a `postgres://` or `postgresql://` URL, filling gaps as libpq does.
    ///
    /// Each setting is taken from the first of: the URL's query parameter, the URL itself, the
    /// environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGAPPNAME`,
    /// `PGCONNECT_TIMEOUT`), then the defaults: host `localhost`, port 5432, user `USER`, database
    /// the user's name, sslmode `prefer`. A password still missing is looked up in `pgpass`.
    ///
    /// - Parameters:
    ///   - string: the URL; user, password and database may be percent-encoded, an IPv6 host is
    ///     written in brackets (`[::1]`).
    ///   - environment: the variables to fall back on, usually `ProcessInfo.processInfo.environment`.
    ///   - pgpass: the password file to consult when no password is given.
    public init(
        parsing string: String,
        environment: [String: String] = [:],
        pgpass: PgPass? = nil
    ) throws(ConnectionURLError) {
        let text = string.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            throw ConnectionURLError(.empty, "the connection URL is empty")
        }
        guard let separator = text.range(of: "://") else {
            if text.contains("=") {
                throw ConnectionURLError(
                    .unsupportedScheme,
                    "keyword=value connection strings are not supported; write a postgres:// URL")
            }
            throw ConnectionURLError(
                .unsupportedScheme,
                "expected a URL that starts with postgres:// or postgresql://, got '\(Self.redactRaw(text))'")
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw ConnectionURLError(
                .unsupportedScheme,
                "unsupported scheme '\(Self.redactRaw(String(text[..<separator.lowerBound])))'; "
                    + "expected postgres:// or postgresql://")
        }
        guard let components = URLComponents(string: text) else {
            let raw = RawAuthority(afterScheme: String(text[separator.upperBound...]))
            if raw.hostPort.contains(",") {
                throw ConnectionURLError(
                    .multipleHosts, "several hosts ('\(raw.hostPort)') are not supported; give one host per shard")
            }
            if let port = raw.port, !port.isEmpty, Self.validPort(port) == nil {
                throw ConnectionURLError(.invalidPort, "port '\(port)' is not a number between 1 and 65535")
            }
            throw ConnectionURLError(
                .malformed,
                "could not parse '\(Self.redactRaw(text))'; percent-encode special characters in the user, "
                    + "password and database (for example '@' as %40, '/' as %2F, ':' as %3A)")
        }

        var query: [String: String] = [:]
        for item in components.percentEncodedQueryItems ?? [] {
            let name = item.name.removingPercentEncoding ?? item.name
            guard Self.supportedParameters.contains(name) else {
                throw ConnectionURLError(
                    .unsupportedParameter,
                    "unsupported query parameter '\(name)' (supported: "
                        + Self.supportedParameters.joined(separator: ", ") + ")")
            }
            let value = item.value.map { $0.removingPercentEncoding ?? $0 } ?? ""
            query[name] = value
        }
        func nonEmpty(_ value: String?) -> String? {
            guard let value, !value.isEmpty else { return nil }
            return value
        }

        var urlHost = components.percentEncodedHost.map { $0.removingPercentEncoding ?? $0 }
        if let bracketed = urlHost, bracketed.hasPrefix("["), bracketed.hasSuffix("]") {
            urlHost = String(bracketed.dropFirst().dropLast())
        }
        let host = nonEmpty(query["host"]) ?? nonEmpty(urlHost) ?? nonEmpty(environment["PGHOST"]) ?? Self.defaultHost
        if host.contains(",") {
            throw ConnectionURLError(
                .multipleHosts, "several hosts ('\(host)') are not supported; give one host per shard")
        }

        let port: Int
        if let text = nonEmpty(query["port"]) {
            guard let value = Self.validPort(text) else {
                throw ConnectionURLError(.invalidPort, "port '\(text)' is not a number between 1 and 65535")
            }
            port = value
        } else if let value = components.port {
            guard (1...65535).contains(value) else {
                throw ConnectionURLError(.invalidPort, "port '\(value)' is not a number between 1 and 65535")
            }
            port = value
        } else if let text = nonEmpty(environment["PGPORT"]) {
            guard let value = Self.validPort(text) else {
                throw ConnectionURLError(.invalidPort, "PGPORT '\(text)' is not a number between 1 and 65535")
            }
            port = value
        } else {
            port = Self.defaultPort
        }

        let urlUser = components.percentEncodedUser.map { $0.removingPercentEncoding ?? $0 }
        guard
            let user = nonEmpty(query["user"]) ?? nonEmpty(urlUser) ?? nonEmpty(environment["PGUSER"])
                ?? nonEmpty(environment["USER"])
        else {
            throw ConnectionURLError(
                .missingUser, "no user name: give one in the URL (postgres://USER@host/db), PGUSER or USER")
        }

        var path = components.percentEncodedPath
        if path.hasPrefix("/") { path.removeFirst() }
        let urlDatabase = path.removingPercentEncoding ?? path
        let database =
            nonEmpty(query["dbname"]) ?? nonEmpty(urlDatabase) ?? nonEmpty(environment["PGDATABASE"]) ?? user

        let sslMode: SSLMode
        if let text = nonEmpty(query["sslmode"]) ?? nonEmpty(environment["PGSSLMODE"]) {
            guard let mode = SSLMode(rawValue: text) else {
                throw ConnectionURLError(
                    .invalidSSLMode,
                    "sslmode '\(text)' is not one of "
                        + SSLMode.allCases.map(\.rawValue).joined(separator: ", "))
            }
            sslMode = mode
        } else {
            sslMode = .prefer
        }

        let connectTimeout: Duration
        if let text = nonEmpty(query["connect_timeout"]) ?? nonEmpty(environment["PGCONNECT_TIMEOUT"]) {
            guard let seconds = Int(text), seconds >= 0 else {
                throw ConnectionURLError(
                    .invalidConnectTimeout, "connect_timeout '\(text)' is not a whole number of seconds")
            }
            // libpq: 0 waits forever; a day is forever enough and keeps the arithmetic finite.
            connectTimeout = seconds == 0 ? .seconds(86_400) : .seconds(seconds)
        } else {
            connectTimeout = Self.defaultConnectTimeout
        }

        let applicationName = nonEmpty(query["application_name"]) ?? nonEmpty(environment["PGAPPNAME"])

        let urlPassword = components.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 }
        var password = nonEmpty(query["password"]) ?? nonEmpty(urlPassword) ?? nonEmpty(environment["PGPASSWORD"])
        if password == nil, let pgpass {
            // libpq matches a socket connection's host as "localhost".
            let passHost = host.hasPrefix("/") ? "localhost" : host
            password = pgpass.password(host: passHost, port: port, database: database, user: user)
        }

        self.init(
            host: host,
            port: port,
            user: user,
            password: password,
            database: database,
            sslMode: sslMode,
            applicationName: applicationName,
            connectTimeout: connectTimeout
        )
    }

    private static func validPort(_ text: String) -> Int? {
        guard let value = Int(text), (1...65535).contains(value) else { return nil }
        return value
    }

    /// The URL text with everything between the first `:` of the user info and its last `@`
    /// replaced by `***`, for messages about a URL that could not be parsed.
    static func redactRaw(_ text: String) -> String {
        guard let separator = text.range(of: "://") else {
            // Not a URL: it may be anything, a password included. Show only its shape.
            return text.count > 12 || text.contains("@") || text.contains(":") ? "…" : text
        }
        let rest = text[separator.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return text }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(rest[at...])
    }
}

/// The authority of a URL split by hand, the way libpq reads it, to explain a URL that
/// `URLComponents` refused. The user info runs to the last `@`, so a password is never taken
/// for a host or a port.
private struct RawAuthority {
    var hostPort: String
    var port: String?

    init(afterScheme rest: String) {
        var afterUserInfo = Substring(rest)
        if let at = rest.lastIndex(of: "@") {
            afterUserInfo = rest[rest.index(after: at)...]
        }
        let end = afterUserInfo.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterUserInfo.endIndex
        hostPort = String(afterUserInfo[..<end])
        if hostPort.hasPrefix("[") {
            if let close = hostPort.firstIndex(of: "]") {
                let afterBracket = hostPort[hostPort.index(after: close)...]
                port = afterBracket.hasPrefix(":") ? String(afterBracket.dropFirst()) : nil
            }
        } else if let colon = hostPort.lastIndex(of: ":"), !hostPort.contains(",") {
            port = String(hostPort[hostPort.index(after: colon)...])
        }
    }
}
