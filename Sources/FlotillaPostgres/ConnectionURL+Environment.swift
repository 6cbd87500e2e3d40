import Foundation

extension ConnectionURL {
    /// The environment for a libpq program (`psql`, `pg_dump`, `pgbench`) to reach this database: `base` without
    /// any `PG…` variable of its own, plus this URL's settings. The password travels in `PGPASSWORD`, never on a
    /// command line; messages are in English (`LC_ALL=C`).
    public func libpqEnvironment(
        base: [String: String] = ProcessInfo.processInfo.environment, applicationName: String? = nil
    ) -> [String: String] {
        var environment = base.filter { !$0.key.hasPrefix("PG") }
        environment["PGHOST"] = host
        environment["PGPORT"] = "\(port)"
        environment["PGUSER"] = user
        environment["PGDATABASE"] = database
        environment["PGSSLMODE"] = sslMode.rawValue
        environment["PGCONNECT_TIMEOUT"] = "\(max(1, connectTimeout.components.seconds))"
        if let name = applicationName ?? self.applicationName { environment["PGAPPNAME"] = name }
        if let password { environment["PGPASSWORD"] = password }
        environment["LC_ALL"] = "C"
        return environment
    }
}
