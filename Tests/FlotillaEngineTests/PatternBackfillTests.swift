import FlotillaModel
import FlotillaPlan
import Foundation
import Testing

@testable import FlotillaEngine

/// How a pattern's backfill paces itself while the application writes, and what lint says about the example
/// pattern changes (they must be safe to roll out).
@Suite("Pattern backfill pacing")
struct PatternBackfillTests {
    @Test("a batch that holds its locks too long halves the next; quick ones grow back to batch_size")
    func batchSize() {
        var throttle = BackfillThrottle(pause: .zero, batchSize: 1000)
        #expect(throttle.record(batch: .milliseconds(120), rows: 1000, blocked: 0) == .zero)
        #expect(throttle.batchSize == 500)
        _ = throttle.record(batch: .milliseconds(80), rows: 500, blocked: 0)
        #expect(throttle.batchSize == 250)
        _ = throttle.record(batch: .milliseconds(30), rows: 250, blocked: 0)
        #expect(throttle.batchSize == 250, "between a quarter of the target and the target: unchanged")
        _ = throttle.record(batch: .milliseconds(5), rows: 250, blocked: 0)
        _ = throttle.record(batch: .milliseconds(5), rows: 500, blocked: 0)
        _ = throttle.record(batch: .milliseconds(5), rows: 1000, blocked: 0)
        #expect(throttle.batchSize == 1000, "never above the configured batch_size")
        for _ in 0..<20 { _ = throttle.record(batch: .seconds(1), rows: 10, blocked: 0) }
        #expect(throttle.batchSize == 10)
        #expect(throttle.longestBatch == .seconds(1))
        #expect(throttle.batches == 26 && throttle.rows == 3700)
    }

    @Test("while sessions wait on a batch's locks the pause doubles, up to a limit; it eases off when they stop")
    func backoff() {
        var throttle = BackfillThrottle(pause: .milliseconds(5), batchSize: 100)
        #expect(throttle.record(batch: .milliseconds(1), rows: 100, blocked: 0) == .milliseconds(5))
        #expect(throttle.record(batch: .milliseconds(1), rows: 100, blocked: 2) == .milliseconds(15))
        #expect(throttle.record(batch: .milliseconds(1), rows: 100, blocked: 1) == .milliseconds(25))
        #expect(throttle.record(batch: .milliseconds(1), rows: 100, blocked: 3) == .milliseconds(45))
        for _ in 0..<20 { _ = throttle.record(batch: .milliseconds(1), rows: 100, blocked: 1) }
        #expect(throttle.backoff == .seconds(2))
        #expect(throttle.record(batch: .milliseconds(1), rows: 100, blocked: 0) == .milliseconds(5) + .seconds(2))
        for _ in 0..<20 { _ = throttle.record(batch: .milliseconds(1), rows: 100, blocked: 0) }
        #expect(throttle.backoff == .zero)
        #expect(throttle.blockingBatches == 23)
        #expect(throttle.summary.contains("23 batches kept others waiting"))
    }

    @Test(
        "each example pattern change plans and lints clean at --fail-on high",
        arguments: [
            "0005_users_locale", "0006_users_email_lower_index", "0007_users_email_check", "0008_users_locale_varchar",
            "0009_users_signed_up_at", "0010_users_referred_by", "0011_users_referred_by_fkey",
            "0012_users_drop_email_verification_token",
        ])
    func examples(_ id: String) throws {
        let path = "fleets/demo/changes/\(id).yaml"
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let change = try Change.parse(
            try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8), file: path)
        let findings = ChangeLint.findings(change)
        #expect(!findings.isEmpty)
        #expect(ChangeLint.blocking(findings).isEmpty, "\(ChangeLint.blocking(findings))")
        let fleet = Fleet(
            name: "demo", control: nil,
            shards: [Shard(name: "a", url: "postgres://app@127.0.0.1/tenants", location: here)],
            tenants: [schemaTenant("t1", shard: "a")], file: "fleets/demo/fleet.yaml", location: here)
        let policy = try parsePolicy("policy: p\nwaves:\n  - {name: all, select: {remaining: true}}\n")
        let plan = try makePlan(fleet, change, policy)
        #expect(plan.phases.map(\.name) == change.phases.map(\.name))
        #expect(plan.phases.allSatisfy { $0.up != nil || $0.backfill != nil })
    }
}
