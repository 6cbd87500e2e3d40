import FlotillaModel
import FlotillaPostgres
import Logging

extension ChangeTracer {
    /// Traces `change` on a copy of `tenant`, made in the embedded PostgreSQL (started when it is not running).
    /// The tenant's shard URL is resolved as a rollout resolves it: `embedded:DB`, or a `postgres://` URL with
    /// libpq's environment and `~/.pgpass`.
    public static func traceInEmbedded(
        _ change: Change, fleet: Fleet, tenant: Tenant, environment: [String: String], sampleRows: Int = 100,
        logger: Logger
    ) async throws -> ChangeTrace {
        guard let shard = fleet.shard(named: tenant.shard) else {
            throw TraceError(tenant: tenant.id, message: "shard \(tenant.shard) is not defined")
        }
        // Only the embedded server is needed, whatever the fleet's control store is.
        var embeddedOnly = environment
        embeddedOnly["FLOTILLA_CONTROL_URL"] = nil
        let session = try await Session.open(fleet: nil, control: nil, environment: embeddedOnly, logger: logger)
        guard let embedded = session.embeddedURL else {
            throw TraceError(tenant: tenant.id, message: "the embedded PostgreSQL did not start")
        }
        let shardURL: ConnectionURL
        if shard.url.hasPrefix("embedded:") {
            shardURL = embedded.with(database: String(shard.url.dropFirst("embedded:".count)))
        } else {
            do {
                shardURL = try ConnectionURL(
                    parsing: shard.url, environment: environment, pgpass: PgPass.load(environment: environment))
            } catch {
                throw TraceError(
                    tenant: tenant.id, message: "shard \(shard.name): bad URL \(redactedURL(shard.url)): \(error)")
            }
        }
        let tracer = ChangeTracer(
            tenant: tenant, shard: shardURL, target: embedded, sampleRows: sampleRows, logger: logger)
        return try await tracer.trace(change)
    }
}
