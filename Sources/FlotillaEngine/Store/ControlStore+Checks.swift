import FlotillaModel
import Foundation
import Logging
import PostgresNIO

/// The health-check journal in the control store: every measurement (`flotilla.measurements`) and each check's
/// verdict per wave (`flotilla.check_verdicts`). Created on first use, idempotently.
extension ControlStore {
    static let checkTables: [String] = [
        """
        CREATE TABLE IF NOT EXISTS flotilla.measurements (
            id bigserial PRIMARY KEY,
            rollout_id text NOT NULL REFERENCES flotilla.rollouts(id) ON DELETE CASCADE,
            phase text NOT NULL,
            wave text NOT NULL,
            check_name text NOT NULL,
            kind text NOT NULL,
            scope text NOT NULL,
            target text NOT NULL,
            tenant text,
            shard text,
            verdict text NOT NULL CHECK (verdict IN ('pass', 'fail', 'error', 'inconclusive')),
            value text,
            detail text NOT NULL DEFAULT '',
            duration_ms integer,
            at timestamptz NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS measurements_rollout ON flotilla.measurements (rollout_id, check_name, id)",
        """
        CREATE TABLE IF NOT EXISTS flotilla.check_verdicts (
            id bigserial PRIMARY KEY,
            rollout_id text NOT NULL REFERENCES flotilla.rollouts(id) ON DELETE CASCADE,
            phase text NOT NULL,
            wave text NOT NULL,
            check_name text NOT NULL,
            kind text NOT NULL,
            scope text NOT NULL,
            verdict text NOT NULL,
            passes integer NOT NULL DEFAULT 0,
            failures integer NOT NULL DEFAULT 0,
            errors integer NOT NULL DEFAULT 0,
            inconclusive integer NOT NULL DEFAULT 0,
            reason text,
            at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """,
        "CREATE INDEX IF NOT EXISTS check_verdicts_rollout ON flotilla.check_verdicts (rollout_id, id)",
        // compare: cohort — `changed`/`baseline` on a tenant's reading, `compared` (with the baseline's value) on
        // the round's comparison.
        "ALTER TABLE flotilla.measurements ADD COLUMN IF NOT EXISTS cohort text",
        "ALTER TABLE flotilla.measurements ADD COLUMN IF NOT EXISTS baseline text",
    ]

    /// Creates the health-check tables when they are missing. Idempotent; serialized with the migrations.
    public func ensureCheckTables() async throws {
        if try await hasCheckTables(), try await hasCohortColumns() { return }
        try await runMigrations(["CREATE SCHEMA IF NOT EXISTS flotilla"] + Self.checkTables)
    }

    func hasCheckTables() async throws -> Bool {
        let rows = try await client.query(
            "SELECT to_regclass('flotilla.measurements') IS NOT NULL AND to_regclass('flotilla.check_verdicts') IS NOT NULL",
            logger: logger)
        for try await exists in rows.decode(Bool.self) { return exists }
        return false
    }

    /// Whether the measurements table has the cohort columns (a store from before them lacks them until upgraded).
    func hasCohortColumns() async throws -> Bool {
        let rows = try await client.query(
            """
            SELECT count(*) = 2 FROM pg_attribute
            WHERE attrelid = to_regclass('flotilla.measurements') AND attname IN ('cohort', 'baseline') AND NOT attisdropped
            """, logger: logger)
        for try await exists in rows.decode(Bool.self) { return exists }
        return false
    }

    /// Journals measurements of one rollout's phase and wave, in one statement.
    func recordMeasurements(_ rollout: String, phase: String, wave: String, _ measurements: [CheckMeasurement])
        async throws
    {
        guard !measurements.isEmpty else { return }
        let checks = measurements.map(\.check)
        let kinds = measurements.map(\.kind)
        let scopes = measurements.map(\.scope)
        let targets = measurements.map(\.target)
        let tenants = measurements.map { $0.tenant ?? "" }
        let shards = measurements.map { $0.shard ?? "" }
        let verdicts = measurements.map(\.verdict.rawValue)
        let values = measurements.map { $0.value ?? "" }
        let hasValue = measurements.map { $0.value != nil }
        let details = measurements.map(\.detail)
        let durations = measurements.map(\.milliseconds)
        let ats = measurements.map(\.at)
        let cohorts = measurements.map { $0.cohort ?? "" }
        let baselines = measurements.map { $0.baseline ?? "" }
        let hasBaseline = measurements.map { $0.baseline != nil }
        try await client.query(
            """
            INSERT INTO flotilla.measurements
                (rollout_id, phase, wave, check_name, kind, scope, target, tenant, shard, verdict, value, detail, duration_ms, at,
                 cohort, baseline)
            SELECT \(rollout), \(phase), \(wave), c, k, s, t, NULLIF(te, ''), NULLIF(sh, ''), v,
                   CASE WHEN hv THEN va END, d, ms, a, NULLIF(co, ''), CASE WHEN hb THEN b END
            FROM unnest(\(checks)::text[], \(kinds)::text[], \(scopes)::text[], \(targets)::text[], \(tenants)::text[],
                        \(shards)::text[], \(verdicts)::text[], \(values)::text[], \(hasValue)::boolean[],
                        \(details)::text[], \(durations)::int[], \(ats)::timestamptz[], \(cohorts)::text[],
                        \(baselines)::text[], \(hasBaseline)::boolean[])
                AS u(c, k, s, t, te, sh, v, va, hv, d, ms, a, co, b, hb)
            """, logger: logger)
    }

    /// Journals a check's verdict for a wave (or a preflight).
    func recordCheckVerdict(
        _ rollout: String, phase: String, wave: String, tally: CheckTally, _ verdict: BakeVerdict
    ) async throws {
        let (word, reason) = (verdict.journalWord, verdict.reason)
        try await client.query(
            """
            INSERT INTO flotilla.check_verdicts
                (rollout_id, phase, wave, check_name, kind, scope, verdict, passes, failures, errors, inconclusive, reason)
            VALUES (\(rollout), \(phase), \(wave), \(tally.check.name), \(tally.check.kind.name),
                    \(tally.check.scope.rawValue), \(word), \(tally.passes), \(tally.failures), \(tally.errors),
                    \(tally.inconclusives), \(reason))
            """, logger: logger)
    }

    /// A check's verdict for one wave of one phase, as journaled.
    public struct CheckVerdictRecord: Sendable, Hashable, Codable {
        public var phase: String
        public var wave: String
        public var check: String
        public var kind: String
        public var scope: String
        /// `passed`, `failed`, `inconclusive`, or for a preflight `waiting`.
        public var verdict: String
        public var passes: Int
        public var failures: Int
        public var errors: Int
        public var inconclusive: Int
        public var reason: String?
        public var at: Date
    }

    /// Every check verdict of a rollout, oldest first.
    public func checkVerdicts(_ rollout: String) async throws -> [CheckVerdictRecord] {
        guard try await hasCheckTables() else { return [] }
        let rows = try await client.query(
            """
            SELECT phase, wave, check_name, kind, scope, verdict, passes, failures, errors, inconclusive, reason, at
            FROM flotilla.check_verdicts WHERE rollout_id = \(rollout) ORDER BY id
            """, logger: logger)
        var result: [CheckVerdictRecord] = []
        for try await row in rows {
            let (phase, wave, check, kind, scope, verdict, passes, failures, errors, inconclusive, reason, at) =
                try row.decode((String, String, String, String, String, String, Int, Int, Int, Int, String?, Date).self)
            result.append(
                CheckVerdictRecord(
                    phase: phase, wave: wave, check: check, kind: kind, scope: scope, verdict: verdict, passes: passes,
                    failures: failures, errors: errors, inconclusive: inconclusive, reason: reason, at: at))
        }
        return result
    }

    /// A measurement as journaled, with the phase and wave it was taken in.
    public struct MeasurementRecord: Sendable, Hashable, Codable {
        public var phase: String
        public var wave: String
        public var measurement: CheckMeasurement
    }

    /// The newest `limit` measurements of each check of a rollout (newest first within each check). For a cohort
    /// check, its comparisons (each with both cohorts' values), not the tenants' readings behind them.
    public func recentMeasurements(_ rollout: String, perCheck limit: Int = 5) async throws -> [MeasurementRecord] {
        guard try await hasCheckTables() else { return [] }
        // Through to_jsonb, so a store from before the cohort columns reads too.
        let rows = try await client.query(
            """
            SELECT phase, wave, check_name, kind, scope, target, tenant, shard, verdict, value, detail,
                   coalesce(duration_ms, 0), at, cohort_of, baseline_of
            FROM (SELECT *, to_jsonb(x) ->> 'cohort' AS cohort_of, to_jsonb(x) ->> 'baseline' AS baseline_of,
                         row_number() OVER (PARTITION BY check_name ORDER BY id DESC) AS n
                  FROM flotilla.measurements x
                  WHERE rollout_id = \(rollout)
                    AND coalesce(to_jsonb(x) ->> 'cohort', '') NOT IN ('changed', 'baseline')) m
            WHERE n <= \(limit) ORDER BY check_name, id DESC
            """, logger: logger)
        var result: [MeasurementRecord] = []
        for try await row in rows {
            let (phase, wave, check, kind, scope, target, tenant, shard, verdict, value, detail, duration, at) =
                try row.decode(
                    (
                        String, String, String, String, String, String, String?, String?, String, String?, String, Int,
                        Date
                    )
                    .self)
            let columns = row.makeRandomAccess()
            let cohort = try columns[13].decode(String?.self)
            let baseline = try columns[14].decode(String?.self)
            var measurement = CheckMeasurement(
                check: check, kind: kind, scope: scope, target: target, tenant: tenant, shard: shard,
                verdict: CheckMeasurement.Verdict(rawValue: verdict) ?? .error, value: value, detail: detail,
                milliseconds: duration, at: at)
            measurement.cohort = cohort
            measurement.baseline = baseline
            result.append(MeasurementRecord(phase: phase, wave: wave, measurement: measurement))
        }
        return result
    }

    /// How many measurements of each verdict each check has in a rollout: `[check: [verdict: count]]`.
    public func measurementCounts(_ rollout: String) async throws -> [String: [String: Int]] {
        guard try await hasCheckTables() else { return [:] }
        let rows = try await client.query(
            "SELECT check_name, verdict, count(*)::int FROM flotilla.measurements WHERE rollout_id = \(rollout) GROUP BY 1, 2",
            logger: logger)
        var result: [String: [String: Int]] = [:]
        for try await (check, verdict, count) in rows.decode((String, String, Int).self) {
            result[check, default: [:]][verdict] = count
        }
        return result
    }
}
