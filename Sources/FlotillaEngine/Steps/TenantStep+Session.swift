import FlotillaPostgres
import PostgresNIO

extension TenantStep {
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
            try await SQLRunner.execute("RESET ALL", on: connection, logger: logger)
            return result
        } catch {
            try? await SQLRunner.execute("RESET ALL", on: connection, logger: logger)
            throw error
        }
    }
}

extension TenantStep {
    /// A backfill batch's transaction in as few round trips as it takes, because a batch holds row locks the
    /// application may be waiting for: BEGIN; one SELECT that sets the same transaction-local settings as
    /// `inTransaction` (timeouts, application_name, the tenant's search_path) and takes the tenant's advisory lock;
    /// `body`; the halt check; COMMIT. Any error rolls it back.
    func inBatchTransaction<T: Sendable>(_ connection: PostgresConnection, _ body: () async throws -> T)
        async throws -> T
    {
        try await SQLRunner.execute("BEGIN", on: connection, logger: logger)
        do {
            var searchPath = ""
            if case .schema(let schema) = tenant.placement { searchPath = quoteIdentifier(schema) }
            let settings: PostgresQuery = """
                SELECT set_config('lock_timeout', \("\(policy.lockTimeout.milliseconds)ms"), true),
                       set_config('statement_timeout', \("\(policy.statementTimeout.milliseconds)ms"), true),
                       set_config('application_name', 'flotilla', true),
                       CASE WHEN \(searchPath) <> '' THEN set_config('search_path', \(searchPath), true) END,
                       pg_advisory_xact_lock(hashtext(\("flotilla:" + fleet)), hashtext(\(tenant.id)))
                """
            try await SQLRunner.execute(settings, on: connection, logger: logger)
            let result = try await body()
            try await checkHalt()
            try await SQLRunner.execute("COMMIT", on: connection, logger: logger)
            return result
        } catch {
            try? await SQLRunner.execute("ROLLBACK", on: connection, logger: logger)
            throw error
        }
    }
}
