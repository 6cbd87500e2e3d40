import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// A `sql` check: the query runs in the tenant (its schema on the search_path, or its database) in a read-only
/// transaction with the check's timeout; the first column of the first row decides.
enum SQLCheck {
    /// What the query returned.
    enum Returned: Sendable, Equatable {
        case noRow
        case null
        case value(String)
    }

    /// Pass when the value is true, or (with `min`/`max`) a number within them; fail when false or outside;
    /// inconclusive with no row or NULL; an error when the value is neither a boolean nor (with limits) a number.
    static func verdict(_ returned: Returned, min: Double?, max: Double?) -> (CheckMeasurement.Verdict, String) {
        guard case .value(let value) = returned else {
            return (.inconclusive, returned == .noRow ? "no row" : "returned NULL")
        }
        if min != nil || max != nil {
            guard let number = Double(value.trimmingCharacters(in: .whitespaces)), number.isFinite else {
                return (.error, "returned '\(value.prefix(80))', not a number")
            }
            if let min, number < min { return (.fail, "returned \(value), below min \(format(min))") }
            if let max, number > max { return (.fail, "returned \(value), above max \(format(max))") }
            return (.pass, "returned \(value)\(bounds(min, max))")
        }
        switch value {
        case "true", "t": return (.pass, "returned true")
        case "false", "f": return (.fail, "returned false")
        default:
            return (.error, "returned '\(value.prefix(80))'; expected true or false (or give min/max for a number)")
        }
    }

    static func bounds(_ min: Double?, _ max: Double?) -> String {
        switch (min, max) {
        case (let min?, let max?): return ", within \(format(min))…\(format(max))"
        case (let min?, nil): return ", at least \(format(min))"
        case (nil, let max?): return ", at most \(format(max))"
        default: return ""
        }
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    /// SQLSTATEs that mean the check could not measure (connection, resources, timeouts, cancellations, a broken
    /// query) rather than that the tenant answered badly.
    static func isCheckError(sqlState: String?) -> Bool {
        guard let sqlState else { return true }
        if ["42601", "55P03", "42501"].contains(sqlState) { return true }
        return ["08", "53", "57", "58", "40", "25", "XX"].contains(String(sqlState.prefix(2)))
    }

    /// The query wrapped so any select-like statement works: the first column of the first row, as text.
    static func wrapped(_ sql: String) -> String {
        let trimmed = sql.trimmingCharacters(in: CharacterSet(charactersIn: "; \n\t\r"))
        return "SELECT (flotilla_check.v)::text FROM (\(trimmed)\n) AS flotilla_check(v) LIMIT 1"
    }

    /// Runs the query in the tenant; never throws: a failure to measure is an `error` measurement.
    static func measure(
        _ sql: String, min: Double?, max: Double?, tenant: Tenant, timeout: Duration, connections: FleetConnections,
        logger: Logger
    ) async -> (verdict: CheckMeasurement.Verdict, value: String?, detail: String) {
        do {
            let returned = try await connections.withTenant(tenant) { connection, _ -> Returned in
                try await SQLRunner.execute("BEGIN READ ONLY", on: connection, logger: logger)
                do {
                    let milliseconds = Swift.max(1, timeout.milliseconds)
                    try await SQLRunner.execute(
                        "SET LOCAL statement_timeout = '\(milliseconds)ms'", on: connection, logger: logger)
                    try await SQLRunner.execute(
                        "SET LOCAL lock_timeout = '\(milliseconds)ms'", on: connection, logger: logger)
                    try await SQLRunner.execute(
                        "SET LOCAL application_name = 'flotilla-check'", on: connection, logger: logger)
                    if case .schema(let schema) = tenant.placement {
                        try await SQLRunner.execute(
                            "SET LOCAL search_path = \(quoteIdentifier(schema))", on: connection, logger: logger)
                    }
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: wrapped(sql)), logger: logger)
                    var result = Returned.noRow
                    for try await row in rows {
                        if case .noRow = result {
                            result = try row.decode(String?.self).map(Returned.value) ?? .null
                        }
                    }
                    try await SQLRunner.execute("ROLLBACK", on: connection, logger: logger)
                    return result
                } catch {
                    try? await SQLRunner.execute("ROLLBACK", on: connection, logger: logger)
                    throw error
                }
            }
            let (verdict, detail) = verdict(returned, min: min, max: max)
            if case .value(let value) = returned { return (verdict, String(value.prefix(200)), detail) }
            return (verdict, nil, detail)
        } catch {
            let failure = DatabaseFailure(error)
            let detail = failure.sqlState.map { "SQLSTATE \($0): " } ?? ""
            if failure.sqlState == "57014" {
                return (.error, nil, "timed out after \(timeout.milliseconds) ms (\(detail)\(failure.message))")
            }
            return (isCheckError(sqlState: failure.sqlState) ? .error : .fail, nil, detail + failure.message)
        }
    }
}
