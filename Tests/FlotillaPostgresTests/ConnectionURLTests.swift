import FlotillaPostgres
import Foundation
import Testing

struct ConnectionURLTests {
    /// A URL, the environment it is parsed in, and what it must give.
    struct Case: Sendable, CustomTestStringConvertible {
        var url: String
        var environment: [String: String] = [:]
        var host = "localhost"
        var port = 5432
        var user = "app"
        var password: String? = nil
        var database = "app"
        var sslMode = SSLMode.prefer
        var applicationName: String? = nil
        var connectTimeout = Duration.seconds(10)

        var testDescription: String { url.isEmpty ? "(empty)" : url }
    }

    static let cases: [Case] = [
        Case(
            url: "postgres://app:s3cret@db.example.com:6543/tenants?sslmode=require&application_name=flotilla"
                + "&connect_timeout=5",
            host: "db.example.com", port: 6543, password: "s3cret", database: "tenants", sslMode: .require,
            applicationName: "flotilla", connectTimeout: .seconds(5)),
        Case(url: "postgresql://app@127.0.0.1/tenants", host: "127.0.0.1", database: "tenants"),
        Case(url: "POSTGRES://app@h/d", host: "h", database: "d"),
        Case(
            url: "postgres://app:p%40ss%3Aw%2Fo%25rd%20x@h/db", host: "h", password: "p@ss:w/o%rd x",
            database: "db"),
        Case(url: "postgres://al%20ice@h/my%20db", host: "h", user: "al ice", database: "my db"),
        Case(url: "postgres://app@[::1]:5433/db", host: "::1", port: 5433, database: "db"),
        Case(url: "postgres://app@[fe80::1]/db", host: "fe80::1", database: "db"),
        Case(url: "postgres://app@h:/db", host: "h", database: "db"),
        Case(url: "postgres://app@h/", host: "h"),
        Case(url: "postgres://app@h", host: "h"),
        Case(
            url: "postgres:///db?host=%2Fvar%2Frun%2Fpostgresql&user=app&port=5433",
            host: "/var/run/postgresql", port: 5433, database: "db"),
        Case(
            url: "postgres://ignored@h/ignored?user=app&dbname=real&password=pw&host=other",
            host: "other", password: "pw", database: "real"),
        Case(url: "postgres://app@h/db?sslmode=verify-full", host: "h", database: "db", sslMode: .verifyFull),
        Case(url: "postgres://app@h/db?sslmode=disable", host: "h", database: "db", sslMode: .disable),
        Case(url: "postgres://app@h/db?connect_timeout=0", host: "h", database: "db", connectTimeout: .seconds(86_400)),
        // libpq's environment fills what the URL leaves out.
        Case(
            url: "postgres://",
            environment: [
                "PGHOST": "envhost", "PGPORT": "6000", "PGUSER": "envuser", "PGPASSWORD": "envpw",
                "PGDATABASE": "envdb", "PGSSLMODE": "require", "PGAPPNAME": "envapp", "PGCONNECT_TIMEOUT": "3",
            ],
            host: "envhost", port: 6000, user: "envuser", password: "envpw", database: "envdb", sslMode: .require,
            applicationName: "envapp", connectTimeout: .seconds(3)),
        // The URL wins over the environment.
        Case(
            url: "postgres://app:urlpw@urlhost:7000/urldb?sslmode=disable",
            environment: [
                "PGHOST": "envhost", "PGPORT": "6000", "PGUSER": "envuser", "PGPASSWORD": "envpw",
                "PGDATABASE": "envdb", "PGSSLMODE": "require",
            ],
            host: "urlhost", port: 7000, password: "urlpw", database: "urldb", sslMode: .disable),
        // The user falls back to USER, the database to the user.
        Case(url: "postgres://h", environment: ["USER": "app"], host: "h"),
        Case(url: "postgres://h", environment: ["USER": "other", "PGUSER": "app"], host: "h"),
        // An empty password counts as none.
        Case(
            url: "postgres://app:@h/db", environment: ["PGPASSWORD": "envpw"], host: "h", password: "envpw",
            database: "db"),
    ]

    @Test(arguments: cases)
    func parses(_ expected: Case) throws {
        let url = try ConnectionURL(parsing: expected.url, environment: expected.environment)
        #expect(url.host == expected.host)
        #expect(url.port == expected.port)
        #expect(url.user == expected.user)
        #expect(url.password == expected.password)
        #expect(url.database == expected.database)
        #expect(url.sslMode == expected.sslMode)
        #expect(url.applicationName == expected.applicationName)
        #expect(url.connectTimeout == expected.connectTimeout)
    }

    @Test(arguments: cases)
    func descriptionParsesBackToTheSameURLWithoutThePassword(_ expected: Case) throws {
        let url = try ConnectionURL(parsing: expected.url, environment: expected.environment)
        var again = try ConnectionURL(parsing: url.description)
        #expect(again.password == (url.password == nil ? nil : "***"))
        again.password = url.password
        #expect(again == url)
    }

    @Test func passwordFileFillsAMissingPassword() throws {
        let pgpass = PgPass(
            parsing: """
                other:*:*:*:wrong
                db.example.com:5432:tenants:app:from\\:file
                *:*:*:*:fallback
                """)
        let url = try ConnectionURL(parsing: "postgres://app@db.example.com/tenants", pgpass: pgpass)
        #expect(url.password == "from:file")
        let elsewhere = try ConnectionURL(parsing: "postgres://app@db.example.com:6000/tenants", pgpass: pgpass)
        #expect(elsewhere.password == "fallback")
        // A password in the URL or in PGPASSWORD comes first, as in libpq.
        let given = try ConnectionURL(parsing: "postgres://app:given@db.example.com/tenants", pgpass: pgpass)
        #expect(given.password == "given")
        let fromEnvironment = try ConnectionURL(
            parsing: "postgres://app@db.example.com/tenants", environment: ["PGPASSWORD": "env"], pgpass: pgpass)
        #expect(fromEnvironment.password == "env")
        // A socket connection is looked up as localhost.
        let socket = try ConnectionURL(
            parsing: "postgres://app@%2Ftmp/tenants", pgpass: PgPass(parsing: "localhost:5432:tenants:app:sock"))
        #expect(socket.password == "sock")
    }

    static let badURLs: [(url: String, code: ConnectionURLError.Code, message: String)] = [
        ("", .empty, "the connection URL is empty"),
        ("   ", .empty, "the connection URL is empty"),
        (
            "mysql://app:hunter2@h/db", .unsupportedScheme,
            "unsupported scheme 'mysql'; expected postgres:// or postgresql://"
        ),
        ("db.example.com:5432", .unsupportedScheme, "expected a URL that starts with postgres:// or postgresql://"),
        ("host=h user=app password=hunter2", .unsupportedScheme, "keyword=value connection strings are not supported"),
        ("postgres://app:hunter2@h:abc/db", .invalidPort, "port 'abc' is not a number between 1 and 65535"),
        ("postgres://app:hunter2@h:70000/db", .invalidPort, "port '70000' is not a number between 1 and 65535"),
        ("postgres://app:hunter2@h:0/db", .invalidPort, "port '0' is not a number between 1 and 65535"),
        ("postgres://app:hunter2@h:99999/db", .invalidPort, "port '99999' is not a number between 1 and 65535"),
        ("postgres://app:hunter2@[::1]:99999/db", .invalidPort, "port '99999' is not a number between 1 and 65535"),
        ("postgres://app:hunter2@h/db?port=99999", .invalidPort, "port '99999' is not a number between 1 and 65535"),
        ("postgres://app:hunter2@h/db?port=-1", .invalidPort, "port '-1' is not a number between 1 and 65535"),
        ("postgres://app:hunter2@h/db?port=x", .invalidPort, "port 'x' is not a number between 1 and 65535"),
        ("postgres://app:hunter2@h/db?sslmode=maybe", .invalidSSLMode, "sslmode 'maybe' is not one of disable, allow"),
        ("postgres://app:hunter2@h/db?connect_timeout=soon", .invalidConnectTimeout, "connect_timeout 'soon'"),
        (
            "postgres://app:hunter2@h/db?sslrootcert=x", .unsupportedParameter,
            "unsupported query parameter 'sslrootcert'"
        ),
        ("postgres://app:hunter2@h1:5432,h2:5432/db", .multipleHosts, "several hosts"),
        ("postgres://app:hunt/er2@h/db", .malformed, "percent-encode special characters"),
        ("postgres://h/db", .missingUser, "no user name"),
    ]

    @Test(arguments: badURLs)
    func rejects(_ bad: (url: String, code: ConnectionURLError.Code, message: String)) {
        #expect {
            try ConnectionURL(parsing: bad.url)
        } throws: { error in
            guard let error = error as? ConnectionURLError else { return false }
            #expect(error.code == bad.code)
            #expect(error.description.contains(bad.message), "\(error.description)")
            #expect(!error.description.contains("hunter2"))
            #expect(!error.description.contains("hunt/er2"))
            #expect(!error.localizedDescription.contains("hunter2"))
            return true
        }
    }

    @Test func badPortInEnvironmentSaysWhere() {
        #expect {
            try ConnectionURL(parsing: "postgres://app@h/db", environment: ["PGPORT": "nope"])
        } throws: { error in
            (error as? ConnectionURLError)?.description.contains("PGPORT 'nope'") == true
        }
    }

    @Test func neverPrintsThePassword() throws {
        let url = try ConnectionURL(parsing: "postgres://app:hunter2@db.example.com:5432/tenants?sslmode=require")
        #expect(url.description == "postgres://app:***@db.example.com:5432/tenants?sslmode=require")
        #expect(url.redacted == url.description)
        #expect("\(url)" == url.description)
        #expect(!String(reflecting: url).contains("hunter2"))
        var dumped = ""
        dump(url, to: &dumped)
        #expect(!dumped.contains("hunter2"))
        #expect(dumped.contains("***"))
        #expect(!"\([url])".contains("hunter2"))

        let withoutPassword = try ConnectionURL(parsing: "postgres://app@h/db")
        #expect(withoutPassword.description == "postgres://app@h:5432/db")
        let ipv6 = try ConnectionURL(parsing: "postgres://app:pw@[::1]:6000/db")
        #expect(ipv6.description == "postgres://app:***@[::1]:6000/db")
        #expect(ipv6.endpoint == "[::1]:6000")
    }

    @Test func withDatabaseKeepsEverythingElse() throws {
        let url = try ConnectionURL(parsing: "postgres://app:pw@h:6000/one?sslmode=disable&application_name=x")
        let other = url.with(database: "two")
        #expect(other.database == "two")
        #expect(other.with(database: "one") == url)
    }

    @Test func clientConfigurationCarriesEverything() throws {
        let url = try ConnectionURL(
            parsing: "postgres://app:pw@db.example.com:6000/tenants?application_name=flotilla&connect_timeout=7")
        let configuration = url.clientConfiguration()
        #expect(configuration.host == "db.example.com")
        #expect(configuration.port == 6000)
        #expect(configuration.username == "app")
        #expect(configuration.password == "pw")
        #expect(configuration.database == "tenants")
        #expect(configuration.options.connectTimeout == .seconds(7))
        #expect(configuration.options.additionalStartupParameters.contains { $0 == ("application_name", "flotilla") })

        let socket = try ConnectionURL(parsing: "postgres://app@%2Fvar%2Frun%2Fpostgresql:5433/db")
            .clientConfiguration()
        #expect(socket.unixSocketPath == "/var/run/postgresql/.s.PGSQL.5433")
        #expect(socket.host == nil)
    }

    @Test(arguments: [
        (SSLMode.disable, false, false), (.allow, true, false), (.prefer, true, false), (.require, true, true),
        (.verifyCA, true, true), (.verifyFull, true, true),
    ])
    func connectionConfigurationFollowsSSLMode(mode: SSLMode, allowed: Bool, enforced: Bool) throws {
        let url = try ConnectionURL(parsing: "postgres://app@h/db?sslmode=\(mode.rawValue)")
        let configuration = url.connectionConfiguration()
        #expect(configuration.tls.isAllowed == allowed)
        #expect(configuration.tls.isEnforced == enforced)
        #expect(configuration.host == "h")
        #expect(configuration.options.connectTimeout == .seconds(10))
    }
}
