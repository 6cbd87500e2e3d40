import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// Lock-aware deferral: before a tenant's step, a transaction older than the policy's `lock_timeout` that holds a
/// lock on one of the step's tables would make the step wait its lock timeout and burn a retry; the step goes to
/// the end of its wave's queue instead, up to `max_deferrals` times.
enum LockDeferral {
    /// The tables a phase takes locks on, as its SQL names them (unqualified names lower-cased, quoted ones kept):
    /// the targets of ALTER/DROP/TRUNCATE/LOCK TABLE, CREATE INDEX … ON, UPDATE, DELETE FROM, INSERT INTO and
    /// REFERENCES, and a backfill's table.
    static func tables(of phase: Phase) -> [String] {
        var names: [String] = []
        if let backfill = phase.backfill { names.append(normalized(backfill.table)) }
        if let up = phase.up { names += tables(in: up.sql) }
        var seen = Set<String>()
        return names.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// Table names after the keywords that take a table's lock, in `sql`.
    static func tables(in sql: String) -> [String] {
        let words = tokens(sql)
        var names: [String] = []
        let skip: Set<String> = ["if", "not", "exists", "only", "concurrently", "unique", "table"]
        var index = 0
        func name(after start: Int) -> String? {
            var at = start
            while at < words.count, skip.contains(words[at].lowercased()) { at += 1 }
            guard at < words.count else { return nil }
            let word = words[at]
            guard word.first == "\"" || word.first?.isLetter == true || word.first == "_" else { return nil }
            return normalized(word)
        }
        while index < words.count {
            let word = words[index].lowercased()
            let next = index + 1 < words.count ? words[index + 1].lowercased() : ""
            switch word {
            case "alter", "drop", "truncate", "lock":
                if next == "table" { name(after: index + 2).map { names.append($0) } }
                if word == "truncate", next != "table" { name(after: index + 1).map { names.append($0) } }
            case "on", "references", "update":
                // CREATE INDEX … ON t; REFERENCES t; UPDATE t (not ON CONFLICT / ON DELETE / ON UPDATE …).
                if let found = name(after: index + 1),
                    !["conflict", "delete", "update", "commit", "cascade", "restrict", "set", "no"].contains(found)
                {
                    if word != "update" || index == 0 || words[index - 1].lowercased() != "on" { names.append(found) }
                }
            case "delete", "insert":
                if ["from", "into"].contains(next) { name(after: index + 2).map { names.append($0) } }
            default:
                break
            }
            index += 1
        }
        return names
    }

    /// The last part of a possibly qualified name, as PostgreSQL folds it.
    static func normalized(_ name: String) -> String {
        var parts: [String] = []
        var current = ""
        var quoted = false
        var wasQuoted = false
        for character in name {
            if character == "\"" {
                quoted.toggle()
                wasQuoted = true
                continue
            }
            if character == ".", !quoted {
                parts.append(wasQuoted ? current : current.lowercased())
                current = ""
                wasQuoted = false
                continue
            }
            if !quoted, character == "(" || character.isWhitespace || character == ";" || character == "," { break }
            current.append(character)
        }
        parts.append(wasQuoted ? current : current.lowercased())
        return parts.last ?? ""
    }

    /// Words of SQL outside comments and string literals; a quoted identifier (with dots around it) is one word.
    static func tokens(_ sql: String) -> [String] {
        var words: [String] = []
        var current = ""
        var iterator = Array(sql)
        var index = 0
        func flush() {
            if !current.isEmpty { words.append(current) }
            current = ""
        }
        while index < iterator.count {
            let character = iterator[index]
            if character == "-", index + 1 < iterator.count, iterator[index + 1] == "-" {
                while index < iterator.count, iterator[index] != "\n" { index += 1 }
                flush()
                continue
            }
            if character == "'" {
                flush()
                index += 1
                while index < iterator.count, iterator[index] != "'" { index += 1 }
                index += 1
                continue
            }
            if character == "\"" {
                current.append(character)
                index += 1
                while index < iterator.count, iterator[index] != "\"" {
                    current.append(iterator[index])
                    index += 1
                }
                current.append("\"")
                index += 1
                continue
            }
            if character.isLetter || character.isNumber || character == "_" || character == "." || character == "$" {
                current.append(character)
            } else {
                flush()
            }
            index += 1
        }
        flush()
        iterator = []
        return words
    }

    /// The lock modes that conflict with what a backfill takes (ROW EXCLUSIVE); DDL conflicts with every mode.
    static let backfillConflicts = ["ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]

    /// A transaction older than `olderThan` that holds a lock on one of `tables` in the tenant's schema (or, for a
    /// database-per-tenant tenant, in its search_path), as `relation held by pid N, in a transaction open for Ns`.
    static func blocker(
        tables: [String], schema: String?, modes: [String]?, olderThan: Duration, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> String? {
        if tables.isEmpty { return nil }
        let seconds = Double(olderThan.milliseconds) / 1000
        let rows = try await connection.query(
            """
            SELECT c.relname, l.mode, a.pid, extract(epoch FROM clock_timestamp() - a.xact_start)::float8
            FROM pg_locks l
            JOIN pg_class c ON c.oid = l.relation
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'relation' AND l.granted AND a.pid <> pg_backend_pid()
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND c.relname = ANY(\(tables)::text[])
              AND (CASE WHEN \(schema)::text IS NULL THEN n.nspname = ANY(current_schemas(false))
                        ELSE n.nspname = \(schema) END)
              AND (\(modes)::text[] IS NULL OR l.mode = ANY(\(modes)::text[]))
              AND a.xact_start < clock_timestamp() - make_interval(secs => \(seconds))
            ORDER BY a.xact_start LIMIT 1
            """, logger: logger)
        for try await (table, mode, pid, age) in rows.decode((String, String, Int32, Double).self) {
            return "\(table) is held (\(mode)) by pid \(pid), in a transaction open for \(Int(age))s"
        }
        return nil
    }
}

/// The steps of a slice that this coordinator put back, waiting for their turn at the end of the queue.
actor Deferrals {
    struct Entry: Sendable {
        var tenant: String
        var notBefore: ContinuousClock.Instant
    }

    private var waiting: [Entry] = []
    private var counts: [String: Int] = [:]

    /// How often `tenant` was deferred so far.
    func count(_ tenant: String) -> Int { counts[tenant, default: 0] }

    /// Puts `tenant` at the end of the queue, not to be tried again before `notBefore`.
    func postpone(_ tenant: String, until notBefore: ContinuousClock.Instant) {
        counts[tenant, default: 0] += 1
        waiting.append(Entry(tenant: tenant, notBefore: notBefore))
    }

    /// The first deferred step whose time has come and whose shard may start work, taken off the queue.
    func next(excluding paused: Set<String>, shardOf: @Sendable (String) -> String?) -> String? {
        let now = ContinuousClock.now
        guard
            let index = waiting.firstIndex(where: {
                $0.notBefore <= now && !paused.contains(shardOf($0.tenant) ?? "")
            })
        else { return nil }
        return waiting.remove(at: index).tenant
    }

    var isEmpty: Bool { waiting.isEmpty }

    /// Every step still waiting, taken off the queue (when the slice stops early).
    func drain() -> [String] {
        defer { waiting = [] }
        return waiting.map(\.tenant)
    }
}
