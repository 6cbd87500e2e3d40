import FlotillaModel
import Testing

/// `throttle:` of a policy: what it reads, and where a mistake in it is reported.
struct ThrottleDecodingTests {
    static let head = ["policy: p", "waves: [{name: w, select: {remaining: true}}]", "throttle:"]

    static func policy(_ lines: [String]) throws -> Policy {
        try Policy.parse((head + lines).joined(separator: "\n") + "\n", file: "policies/p.yaml")
    }

    @Test("signals read in their units: durations in seconds, shares from 0 to 1, counts")
    func readsSignals() throws {
        let policy = try Self.policy([
            "  interval: 500ms",
            "  on_unknown: ignore",
            "  max_deferrals: 3",
            "  signals:",
            "    - {signal: replication_lag, pause_above: 5s, halt_above: 1m, replica: \"postgres://r@replica/db\"}",
            "    - {signal: lock_waiters, pause_above: 5, halt_above: 50}",
            "    - {signal: long_transactions, pause_above: 500ms}",
            "    - {signal: active_sessions, pause_above: \"80%\", halt_above: 0.95}",
            "    - {signal: wal_archive_backlog, pause_above: 10}",
            "    - {sql: \"SELECT count(*) FROM queue\", name: queue_depth, pause_above: 1000}",
        ])
        let throttle = try #require(policy.throttle)
        #expect(throttle.interval == .milliseconds(500))
        #expect(throttle.onUnknown == .ignore)
        #expect(throttle.maxDeferrals == 3)
        #expect(
            throttle.signals.map(\.name) == [
                "replication_lag", "lock_waiters", "long_transactions", "active_sessions", "wal_archive_backlog",
                "queue_depth",
            ])
        let values = throttle.signals.map { [$0.pauseAbove, $0.haltAbove ?? -1] }
        #expect(values == [[5, 60], [5, 50], [0.5, -1], [0.8, 0.95], [10, -1], [1000, -1]])
        #expect(throttle.signals[0].replica == "postgres://r@replica/db")
        #expect(throttle.signals[5].source == .sql(name: "queue_depth", query: "SELECT count(*) FROM queue"))
        #expect(throttle.signals[0].format(60) == "60s" && throttle.signals[3].format(0.8) == "80%")
    }

    @Test("defaults: every second, unknown pauses, ten deferrals; no throttle: none")
    func defaults() throws {
        let throttle = try #require(try Self.policy(["  signals: [{signal: lock_waiters, pause_above: 1}]"]).throttle)
        #expect(throttle.interval == .seconds(1) && throttle.onUnknown == .pause && throttle.maxDeferrals == 10)
        let plain = try Policy.parse("policy: p\nwaves: [{name: w, select: {remaining: true}}]\n", file: "p.yaml")
        #expect(plain.throttle == nil)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var name: String
        var lines: [String]
        /// Line and column in the whole file (the three head lines come first).
        var line: Int
        var column: Int
        var fragment: String
        var testDescription: String { name }
    }

    static let bad: [Bad] = [
        Bad(
            name: "unknown signal", lines: ["  signals:", "    - {signal: lock_waiter, pause_above: 5}"], line: 5,
            column: 16, fragment: "lock_waiter"),
        Bad(
            name: "a number for a duration signal",
            lines: ["  signals:", "    - {signal: replication_lag, pause_above: 5}"], line: 5, column: 46,
            fragment: "expected a duration like 500ms, 5s or 1m, found '5'"),
        Bad(
            name: "a share above 100%",
            lines: ["  signals:", "    - {signal: active_sessions, pause_above: \"120%\"}"],
            line: 5, column: 46, fragment: "expected a share from 0 to 1"),
        Bad(
            name: "halt below pause",
            lines: ["  signals:", "    - {signal: lock_waiters, pause_above: 10, halt_above: 5}"], line: 5,
            column: 59, fragment: "halt_above (5) is below pause_above (10)"),
        Bad(
            name: "sql without a name", lines: ["  signals:", "    - {sql: \"SELECT 1\", pause_above: 5}"], line: 5,
            column: 7, fragment: "a sql signal needs a name"),
        Bad(
            name: "signal and sql",
            lines: ["  signals:", "    - {signal: lock_waiters, sql: \"SELECT 1\", pause_above: 1}"],
            line: 5, column: 7, fragment: "either signal or sql, not both"),
        Bad(
            name: "missing pause_above", lines: ["  signals:", "    - {signal: lock_waiters}"], line: 5, column: 7,
            fragment: "missing required key 'pause_above'"),
        Bad(
            name: "replica on another signal",
            lines: ["  signals:", "    - {signal: lock_waiters, pause_above: 1, replica: \"postgres://r/db\"}"],
            line: 5,
            column: 55, fragment: "replica applies to replication_lag only"),
        Bad(
            name: "unknown key, with a suggestion", lines: ["  interval: 1s", "  signal: []"], line: 5, column: 3,
            fragment: "did you mean 'signals'?"),
        Bad(
            name: "bad on_unknown",
            lines: ["  on_unknown: healthy", "  signals: [{signal: lock_waiters, pause_above: 1}]"],
            line: 4, column: 15, fragment: "healthy"),
        Bad(
            name: "interval too short",
            lines: ["  interval: 10ms", "  signals: [{signal: lock_waiters, pause_above: 1}]"], line: 4, column: 13,
            fragment: "at least 100ms"),
        Bad(
            name: "duplicate signal",
            lines: [
                "  signals:", "    - {signal: lock_waiters, pause_above: 1}",
                "    - {signal: lock_waiters, pause_above: 2}",
            ], line: 6, column: 7, fragment: "duplicate throttle signal 'lock_waiters'"),
    ]

    @Test("a mistake is reported at its line:col, and the policy is refused", arguments: bad)
    func reportsBadInput(_ input: Bad) {
        let text = (Self.head + input.lines).joined(separator: "\n") + "\n"
        var found: [Diagnostic] = []
        do {
            _ = try Policy.parse(text, file: "policies/p.yaml")
        } catch {
            found = error.diagnostics
        }
        #expect(!found.isEmpty, "expected an error, the policy parsed")
        let match = found.first {
            $0.severity == .error && $0.location.line == input.line && $0.location.column == input.column
                && $0.message.contains(input.fragment)
        }
        #expect(
            match != nil,
            "expected \(input.line):\(input.column) \(input.fragment); found:\n\(found.map(\.description).joined(separator: "\n"))"
        )
        #expect(found.allSatisfy { $0.location.file == "policies/p.yaml" })
    }
}
