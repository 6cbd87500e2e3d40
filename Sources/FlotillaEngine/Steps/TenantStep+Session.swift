import FlotillaPostgres
import PostgresNIO

extension TenantStep {
    /// Puts back the settings a step sets on its session (as `RESET` would), in one round trip, and only those: the
    /// connection's own settings (`client_connection_check_interval`) stay.
    static let resetSettings: PostgresQuery = """
        SELECT set_config(name, reset_val, false) FROM pg_settings
        WHERE name IN ('lock_timeout', 'statement_timeout', 'search_path')
        """

    /// Runs `body` with the tenant's search_path and the policy's timeouts set on the session — for statements that
    /// cannot run inside a transaction, like a `down` of `DROP INDEX CONCURRENTLY` — and resets them afterwards, so
    /// the pooled connection goes back as it came.
    func withSessionSettings<T: Sendable>(_ connection: PostgresConnection, _ body: () async throws -> T)
        async throws -> T
    {
        var settings = [
            "SET lock_timeout = '\(policy.lockTimeout.milliseconds)ms'",
            "SET statement_timeout = '\(policy.statementTimeout.milliseconds)ms'",
        ]
        if case .schema(let schema) = tenant.placement {
            settings.append("SET search_path = \(quoteIdentifier(schema))")
        }
        do {
            for setting in settings { try await SQLRunner.execute(setting, on: connection, logger: logger) }
            let result = try await body()
            try await SQLRunner.execute(Self.resetSettings, on: connection, logger: logger)
            return result
        } catch {
            await SQLRunner.cleanUp(Self.resetSettings, on: connection, after: error, logger: logger)
            throw error
        }
    }
}
