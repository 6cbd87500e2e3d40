import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// Reads throttle signals on a shard's own monitor connection. Every query only reads; values go in as bind
/// parameters. "The shard" is the shard's database: lock waiters and long transactions count sessions of that
/// database (several shards may share a server), active sessions and the WAL archive are the server's.
enum ThrottleSignalReader {
    /// The query of a built-in signal, as one number (NULL: nothing to measure, read as 0).
    static func query(_ kind: ThrottleSignal.Kind, onReplica: Bool) -> PostgresQuery {
        switch kind {
        case .replicationLag:
            if onReplica {
                // On a replica: how far its replay is behind (0 when it has replayed everything it received).
                return """
                    SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE COALESCE(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8
                    """
            }
            return "SELECT COALESCE(max(extract(epoch FROM replay_lag)), 0)::float8 FROM pg_stat_replication"
        case .lockWaiters:
            return """
                SELECT count(DISTINCT l.pid)::float8 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE NOT l.granted AND a.datname = current_database()
                """
        case .longTransactions:
            return """
                SELECT COALESCE(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)::float8
                FROM pg_stat_activity
                WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND state <> 'idle'
                  AND datname = current_database() AND backend_type = 'client backend'
                """
        case .activeSessions:
            return """
                SELECT (count(*) FILTER (WHERE state <> 'idle' AND pid <> pg_backend_pid()))::float8
                    / current_setting('max_connections')::float8
                FROM pg_stat_activity WHERE backend_type = 'client backend'
                """
        case .walArchiveBacklog:
            // pg_ls_archive_statusdir() needs superuser or the pg_monitor role; with archive_mode off nothing waits.
            return """
                SELECT CASE WHEN current_setting('archive_mode') = 'off' THEN 0
                    ELSE (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') END::float8
                """
        }
    }

    /// Reads one signal on `connection`. A `sql:` signal runs as a subquery inside a read-only transaction.
    static func read(_ signal: ThrottleSignal, on connection: PostgresConnection, logger: Logger) async throws -> Double
    {
        let query: PostgresQuery
        switch signal.source {
        case .builtIn(let kind):
            query = Self.query(kind, onReplica: signal.replica != nil)
        case .sql(_, let sql):
            let trimmed = sql.trimmingCharacters(in: CharacterSet(charactersIn: "; \n\t\r"))
            query = PostgresQuery(
                unsafeSQL: "SELECT (flotilla_signal.v)::float8 FROM (\(trimmed)\n) AS flotilla_signal(v) LIMIT 1")
        }
        let rows = try await connection.query(query, logger: logger)
        for try await value in rows.decode(Double?.self) { return value ?? 0 }
        return 0
    }
}
