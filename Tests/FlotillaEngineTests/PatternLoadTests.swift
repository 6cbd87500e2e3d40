import FlotillaEngine
import FlotillaModel
import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

/// Live traffic for the pattern tests: pgbench (from the PostgreSQL packages) runs a custom script per tenant, the
/// application's reads and writes of the tables under change, while a rollout runs. It runs in slices of a couple of
/// seconds until the work is done, and reports the transactions, the failed ones (pgbench's own count plus every
/// client aborted by an error) and latency percentiles from pgbench's per-transaction logs. Benchmarks/patterns
/// drives the same scripts from the shell.
struct LiveTraffic: Sendable {
    struct Report: Sendable, CustomStringConvertible {
        var transactions = 0
        var failed = 0
        /// The first errors pgbench printed.
        var errors: [String] = []
        /// Latencies in milliseconds, sorted.
        var latencies: [Double] = []

        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let index = min(latencies.count - 1, max(0, Int((p * Double(latencies.count)).rounded(.up)) - 1))
            return latencies[index]
        }

        var description: String {
            String(
                format: "%d transactions, %d failed; latency p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms",
                transactions, failed, percentile(0.5), percentile(0.95), percentile(0.99), latencies.last ?? 0)
                + (errors.isEmpty ? "" : "; errors: " + errors.joined(separator: " | "))
        }
    }

    let url: ConnectionURL
    /// pgbench scripts, one file each; every transaction runs one of them, chosen at random.
    let scripts: [String]
    var clients = 4
    /// Transactions per second in all (pgbench -R): an application's steady load, not a saturation test.
    var rate = 150
    var sliceSeconds = 2

    /// Runs `body` while the traffic runs; the traffic starts first and stops one slice after `body` returns.
    func during<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> (T, Report) {
        let directory = try makeScratchDirectory(prefix: "flotilla-pgbench")
        defer { try? FileManager.default.removeItem(at: directory) }
        var files: [String] = []
        for (index, script) in scripts.enumerated() {
            let file = directory.appendingPathComponent("tenant\(index).sql")
            try script.write(to: file, atomically: true, encoding: .utf8)
            files.append(file.path)
        }
        let stop = StopFlag()
        let traffic = self
        let paths = files
        return try await withThrowingTaskGroup(of: Outcome<T>.self) { group in
            group.addTask {
                var report = Report()
                var slice = 0
                // Slices until `body` has returned, and one more that starts after it: the application must also
                // work against what `body` left behind.
                while true {
                    let last = stop.isSet
                    slice += 1
                    try await traffic.runSlice(slice, files: paths, directory: directory, into: &report)
                    if last { break }
                }
                report.latencies.sort()
                return .traffic(report)
            }
            // Let the first slice connect before the work starts.
            try await Task.sleep(for: .milliseconds(300))
            group.addTask {
                do {
                    let value = try await body()
                    stop.set()
                    return .value(value)
                } catch {
                    stop.set()
                    throw error
                }
            }
            var value: T?
            var report: Report?
            for try await outcome in group {
                switch outcome {
                case .value(let result): value = result
                case .traffic(let result): report = result
                }
            }
            return (value!, report!)
        }
    }

    enum Outcome<T: Sendable>: Sendable {
        case value(T)
        case traffic(Report)
    }

    func runSlice(_ slice: Int, files: [String], directory: URL, into report: inout Report) async throws {
        let binary = try PostgresBinaries.locate().path(for: .pgbench)
        let environment = url.libpqEnvironment()
        let prefix = directory.appendingPathComponent("slice\(slice)").path
        var arguments = [
            "-n", "-c", "\(clients)", "-j", "\(min(2, clients))", "-T", "\(sliceSeconds)", "-R", "\(rate)",
            "-M", "simple", "-l", "--log-prefix", prefix,
        ]
        for file in files { arguments += ["-f", file] }
        let result = try await ProcessRunner.run(binary, arguments, environment: environment)
        for line in result.standardOutput.split(separator: "\n") {
            if line.hasPrefix("number of transactions actually processed:") {
                report.transactions += Int(line.split(separator: ":")[1].split(separator: "/")[0].trimmed) ?? 0
            } else if line.hasPrefix("number of failed transactions:") {
                report.failed += Int(line.split(separator: ":")[1].split(separator: "(")[0].trimmed) ?? 0
            }
        }
        let errorLines = result.standardError.split(separator: "\n").map(String.init).filter {
            $0.contains("error") || $0.contains("ERROR") || $0.contains("FATAL")
        }
        // An error aborts the client and its transaction: one failed transaction each ("client 2 script 0 aborted in
        // command 4 …"; not the closing "Run was aborted").
        report.failed += errorLines.filter { $0.contains("client") && $0.contains("aborted") }.count
        if !result.succeeded && errorLines.isEmpty {
            report.failed += 1
            report.errors.append("pgbench exited \(result.status): \(result.combinedOutput.prefix(300))")
        }
        for line in errorLines where report.errors.count < 5 { report.errors.append(line) }
        // Per-transaction logs: "client transaction latency_us script epoch_s epoch_us [lag_us]".
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in logs where name.hasPrefix("slice\(slice).") {
            let text = (try? String(contentsOfFile: directory.appendingPathComponent(name).path, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count >= 3, let microseconds = Double(fields[2]) {
                    report.latencies.append(microseconds / 1000)
                }
            }
        }
    }
}

/// Set once, read from any task.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

extension Substring {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespaces) }
}

/// Tenants for the pattern tests, from the same templates Benchmarks/patterns uses: a schema each with `users` (id,
/// email, phone_number, score, created_at), `orders` referring to users, and `writes`, where the workload logs every
/// value it writes (so a test can tell, after a revert, that no write was lost).
enum PatternTenants {
    static let rows = 4000

    /// A file of Benchmarks/patterns with its `@NAME@` placeholders filled in.
    static func template(_ name: String, _ values: [String: String]) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var text = try String(
            contentsOf: root.appendingPathComponent("Benchmarks/patterns/\(name)"), encoding: .utf8)
        for (key, value) in values { text = text.replacingOccurrences(of: "@\(key)@", with: value) }
        return text
    }

    static func create(_ shard: ConnectionURL, schemas: [String]) throws {
        let sql = try schemas.map { try template("tenant.sql", ["SCHEMA": $0, "ROWS": "\(rows)"]) }
        _ = try psql(shard, sql.joined(separator: "\n"))
    }

    /// The application's transaction on one tenant (Benchmarks/patterns/workload.sql): read a user, write `column`
    /// (as `value`, an expression of `:v`), sign up a user, place an order; every value written is logged in `writes`.
    static func workload(schema: String, column: String, value: String) throws -> String {
        try template("workload.sql", ["SCHEMA": schema, "ROWS": "\(rows)", "COLUMN": column, "VALUE": value])
    }

    /// Users whose `column` is not the value last written to it, and writes whose user is gone: both 0 when no
    /// write was lost.
    static func lostWrites(_ shard: ConnectionURL, schema: String, column: String) throws -> String {
        try psql(
            shard,
            """
            SELECT (SELECT count(*) FROM \(schema).users u
                      JOIN (SELECT DISTINCT ON (user_id) user_id, value FROM \(schema).writes ORDER BY user_id, id DESC) w
                        ON w.user_id = u.id
                     WHERE u.\(column)::text IS DISTINCT FROM w.value)
                   || '|' || (SELECT count(*) FROM \(schema).writes w WHERE NOT EXISTS (SELECT FROM \(schema).users u WHERE u.id = w.user_id))
            """)
    }
}

@Suite("Live traffic harness", .heavy)
struct PatternLoadTests {
    @Test(
        "pgbench runs the workload, reports latencies, and counts the transactions an error broke",
        .timeLimit(.minutes(10)))
    func harnessSeesFailures() async throws {
        let shard = try await TestCluster.shared.freshDatabase(prefix: "load")
        try PatternTenants.create(shard, schemas: ["tenant_a"])
        let traffic = LiveTraffic(
            url: shard, scripts: [try PatternTenants.workload(schema: "tenant_a", column: "score", value: ":v")],
            rate: 100)
        let (_, clean) = try await traffic.during { try await Task.sleep(for: .seconds(1)) }
        #expect(clean.failed == 0, "\(clean)")
        #expect(clean.transactions > 50 && clean.latencies.count == clean.transactions, "\(clean)")
        #expect(try PatternTenants.lostWrites(shard, schema: "tenant_a", column: "score") == "0|0")
        // A change that breaks running code: the workload's column disappears under it.
        let (_, broken) = try await traffic.during {
            try await Task.sleep(for: .milliseconds(500))
            _ = try psql(shard, "ALTER TABLE tenant_a.users RENAME COLUMN score TO points")
        }
        // At most two slices ran after the rename: each of their clients is aborted at most once, and pgbench's
        // closing "Run was aborted" is no transaction of its own.
        #expect(broken.failed >= 1 && broken.failed <= 2 * traffic.clients, "\(broken)")
        #expect(broken.errors.contains { $0.contains("column \"score\"") }, "\(broken)")
    }
}
