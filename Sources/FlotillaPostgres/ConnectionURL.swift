import Foundation
import PostgresNIO

/// Where and how to connect to one PostgreSQL database, parsed from a libpq-style URL.
///
/// `postgres://user:password@host:port/database?sslmode=require&application_name=flotilla`
///
/// Gaps are filled as libpq does: from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
/// `PGSSLMODE`, `PGAPPNAME` and `PGCONNECT_TIMEOUT`, the user from `USER`, the database from the
/// user, and a missing password from `~/.pgpass`. A host that starts with `/` is the directory of
/// a Unix socket, as in libpq.
///
/// The password never leaves: ``description``, ``redacted``, `dump` and every error print it as `***`.
public struct ConnectionURL: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// The libpq default when neither the URL nor the environment name a host. libpq itself
    /// would use a Unix socket; a fleet tool talks TCP unless told otherwise.
    public static let defaultHost = "localhost"
    /// PostgreSQL's default port.
    public static let defaultPort = 5432
    /// How long to wait for the TCP connection when the URL does not say.
    public static let defaultConnectTimeout: Duration = .seconds(10)

    public typealias SSLMode = FlotillaPostgres.SSLMode

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    public var applicationName: String?
    public var connectTimeout: Duration

    public init(
        host: String = ConnectionURL.defaultHost,
        port: Int = ConnectionURL.defaultPort,
        user: String,
        password: String? = nil,
        database: String,
        sslMode: SSLMode = .prefer,
        applicationName: String? = nil,
        connectTimeout: Duration = ConnectionURL.defaultConnectTimeout
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
    }

    /// The same server, user and options, another database.
    public func with(database: String) -> ConnectionURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// Whether ``host`` names the directory of a Unix socket rather than a TCP host.
    public var isUnixSocket: Bool { host.hasPrefix("/") }

    /// The socket file for a Unix-socket URL, as libpq names it: `DIR/.s.PGSQL.PORT`.
    public var unixSocketPath: String? {
        isUnixSocket ? "\(host)/.s.PGSQL.\(port)" : nil
    }

    /// `host:port` (`[::1]:5432` for IPv6, the socket path for a Unix socket), for messages.
    public var endpoint: String {
        if let unixSocketPath { return unixSocketPath }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The URL with the password printed as `***`.
    public var redacted: String {
        var text = "postgres://"
        text += Self.percentEncode(user, allowed: .urlUserAllowed)
        if password != nil { text += ":***" }
        text += "@"
        if isUnixSocket {
            text += Self.percentEncode(host, allowed: Self.unreserved)
        } else if host.contains(":") {
            text += "[\(host)]"
        } else {
            text += Self.percentEncode(host, allowed: .urlHostAllowed)
        }
        text += ":\(port)/"
        text += Self.percentEncode(database, allowed: Self.unreserved)
        var query: [String] = []
        if sslMode != .prefer { query.append("sslmode=\(sslMode.rawValue)") }
        if let applicationName {
            query.append("application_name=\(Self.percentEncode(applicationName, allowed: Self.unreserved))")
        }
        if connectTimeout != Self.defaultConnectTimeout {
            query.append("connect_timeout=\(connectTimeout.components.seconds)")
        }
        if !query.isEmpty { text += "?" + query.joined(separator: "&") }
        return text
    }

    public var description: String { redacted }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host,
                "port": port,
                "user": user,
                "password": password == nil ? "nil" : "***",
                "database": database,
                "sslMode": sslMode,
                "applicationName": applicationName as Any,
                "connectTimeout": connectTimeout,
            ],
            displayStyle: .struct
        )
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )

    private static func percentEncode(_ text: String, allowed: CharacterSet) -> String {
        var allowed = allowed
        allowed.remove(charactersIn: ":@/?#[]%&=+")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

// MARK: - PostgresNIO configurations

extension ConnectionURL {
    /// A `PostgresClient` configuration: endpoint, credentials, database, TLS per ``sslMode``,
    /// connect timeout and `application_name`.
    ///
    /// TLS follows libpq: `disable` never encrypts; `allow` and `prefer` encrypt when the server
    /// offers TLS and `require` always does, none of them checking the certificate; `verify-ca`
    /// checks the chain, `verify-full` the chain and the host name.
    public func clientConfiguration() -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let unixSocketPath {
            configuration = .init(
                unixSocketPath: unixSocketPath, username: user, password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch sslMode {
            case .disable: tls = .disable
            case .allow, .prefer: tls = .prefer(Self.tlsConfiguration(for: sslMode))
            case .require, .verifyCA, .verifyFull: tls = .require(Self.tlsConfiguration(for: sslMode))
            }
            configuration = .init(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.connectTimeout = connectTimeout
        if let applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        return configuration
    }

    /// A `PostgresConnection` configuration with the same settings as ``clientConfiguration()``,
    /// for a single connection (`PostgresConnection.connect`).
    public func connectionConfiguration() -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let unixSocketPath {
            configuration = .init(
                unixSocketPath: unixSocketPath, username: user, password: password, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch sslMode {
            case .disable: tls = .disable
            case .allow, .prefer: tls = .prefer(Self.sslContext(for: sslMode))
            case .require, .verifyCA, .verifyFull: tls = .require(Self.sslContext(for: sslMode))
            }
            configuration = .init(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        let nanoseconds =
            connectTimeout.components.seconds * 1_000_000_000
            + connectTimeout.components.attoseconds / 1_000_000_000
        configuration.options.connectTimeout = .nanoseconds(nanoseconds)
        if let applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        return configuration
    }

    static func tlsConfiguration(for mode: SSLMode) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable, .allow, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        return tls
    }

    // Building an SSL context loads the trust store: do it once per verification level.
    private static let unverifiedContext = Result { try NIOSSLContext(configuration: tlsConfiguration(for: .require)) }
    private static let chainContext = Result { try NIOSSLContext(configuration: tlsConfiguration(for: .verifyCA)) }
    private static let fullContext = Result { try NIOSSLContext(configuration: tlsConfiguration(for: .verifyFull)) }

    private static func sslContext(for mode: SSLMode) -> NIOSSLContext {
        let context: Result<NIOSSLContext, any Error>
        switch mode {
        case .disable, .allow, .prefer, .require: context = unverifiedContext
        case .verifyCA: context = chainContext
        case .verifyFull: context = fullContext
        }
        switch context {
        case .success(let context): return context
        case .failure(let error):
            // Only a broken TLS library fails here; connecting without the asked-for TLS would be worse.
            preconditionFailure("cannot create a TLS context for sslmode=\(mode): \(error)")
        }
    }
}
