import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

@testable import FlotillaEngine

/// `flotilla plan` shows, byte for byte, the statement the engine runs for each batch of a backfill.
struct BackfillStatementTests {
    /// The SQL of a backfill's plan text: its blocks of lines between comment lines (apply, then revert).
    static func statements(_ shown: String) -> [String] {
        shown.split(separator: "\n", omittingEmptySubsequences: false)
            .split(whereSeparator: { $0.hasPrefix("--") })
            .map { $0.joined(separator: "\n") }
    }

    @Test func planShowsTheStatementsTheEngineBuilds() {
        let backfill = Backfill(
            table: "Users", set: "score = score + 1", whereClause: "active", key: "user id", batchSize: 250,
            pause: .milliseconds(20), revert: "score = NULL")
        // What `runBatches` runs in a tenant with a database of its own: apply with the backfill's set and where,
        // revert with its revert on every row.
        let ledger = TenantLedger(placement: .database("tenant_db"))
        let apply = BackfillSQL.batchStatement(
            backfill: backfill, set: backfill.set, condition: backfill.whereClause,
            checkpointTable: ledger.checkpointTable)
        let revert = BackfillSQL.batchStatement(
            backfill: backfill, set: "score = NULL", condition: nil, checkpointTable: ledger.checkpointTable)
        #expect(Self.statements(BackfillSQL.describe(backfill)) == [apply, revert])
        #expect(apply.contains(#"UPDATE "Users" SET score = score + 1"#))
        #expect(apply.contains(#"WHERE "user id" > $1 AND (active) ORDER BY "user id" LIMIT $2 FOR UPDATE"#))
        #expect(revert.contains(#"WHERE "user id" > $1 ORDER BY "user id" LIMIT $2 FOR UPDATE"#))

        var once = backfill
        once.revert = nil
        #expect(Self.statements(BackfillSQL.describe(once)) == [apply])
    }

    /// Each row records the statement that updated it (`current_query()`): the one `plan` shows. A tenant in a schema
    /// runs it with its own checkpoint table, the only difference.
    @Test(.timeLimit(.minutes(10)))
    func theEngineRunsTheStatementsPlanShows() async throws {
        let cluster = try await TestCluster.shared.url()
        let shard = try await TestCluster.shared.freshDatabase(prefix: "bsql")
        let database = uniqueName("bsql")
        let tenants = [
            Tenant(id: "d1", shard: "a", placement: .database(database), labels: [:], location: here),
            schemaTenant("s1", shard: "a"),
        ]
        let table = """
            CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, applied text, reverted text);
            INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 5) AS g;
            """
        _ = try psql(cluster, "CREATE DATABASE \(database)")
        defer { _ = try? psql(cluster, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
        _ = try psql(cluster.with(database: database), table)
        _ = try psql(shard, "CREATE SCHEMA tenant_s1; SET search_path = tenant_s1;\n" + table)
        let fleet = makeFleet(name: "bsql-fleet", shards: [("a", shard)], tenants: tenants)
        let change = try parseChange(
            """
            change: 0001_bsql
            phases:
              - name: fill
                backfill:
                  table: users
                  set: applied = current_query()
                  where: applied IS NULL
                  batch_size: 2
                  revert: reverted = current_query()
            """)
        // A check that always fails reverts the phase where it ran: its revert batches run too.
        let policy = try parsePolicy(
            """
            policy: revert-it
            waves:
              - {name: all, select: {remaining: true}}
            retries: {attempts: 1, backoff: 10ms}
            checks:
              - {name: never, sql: "SELECT false", scope: tenant}
            on_failure: revert
            """)
        let plan = try makePlan(fleet, change, policy)
        let shown = Self.statements(try #require(plan.phases[0].backfill))
        try #require(shown.count == 2)

        let rig = try await Rig(fleet: fleet)
        let outcome = try await rig.rollout(change, policy)
        guard case .reverted = outcome else {
            Issue.record("expected reverted, got \(outcome)")
            return
        }
        let probes = [
            (TenantProbe(database: database, on: cluster), TenantLedger(placement: tenants[0].placement)),
            (TenantProbe(shard: shard, schema: "tenant_s1"), TenantLedger(placement: tenants[1].placement)),
        ]
        for (probe, ledger) in probes {
            let expected = shown.map {
                $0.replacing(BackfillSQL.databaseCheckpointTable, with: ledger.checkpointTable)
            }
            #expect(
                try probe.query(
                    """
                    SELECT count(*) FILTER (WHERE applied = \(quoteLiteral(expected[0]))) || '/'
                        || count(*) FILTER (WHERE reverted = \(quoteLiteral(expected[1]))) || '/' || count(*)
                    FROM users
                    """) == "5/5/5", "\(ledger.checkpointTable)")
        }
        #expect(TenantLedger(placement: tenants[0].placement).checkpointTable == BackfillSQL.databaseCheckpointTable)
    }
}
