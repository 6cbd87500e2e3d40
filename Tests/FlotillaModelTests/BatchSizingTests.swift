import FlotillaModel
import Testing

/// How a backfill sizes its batches: the controller alone (no database), and the keys that set it up, in a phase's
/// `backfill:` and in a pattern's parameters, with their mistakes reported at their place.
@Suite("Backfill batch sizing")
struct BatchSizingTests {
    @Test("with target_batch_time a batch under the target grows the next by at most 20%, up to max_batch")
    func grows() {
        let sizing = BatchSizing(batchSize: 100, minimum: 10, maximum: 300, target: .milliseconds(50))
        #expect(sizing.first == 100)
        #expect(sizing.nextSize(after: 100, took: .milliseconds(1)) == 120, "far under: +20%, not 50×")
        #expect(sizing.nextSize(after: 100, took: .milliseconds(45)) == 111, "just under: 100 × 50/45")
        #expect(sizing.nextSize(after: 100, took: .zero) == 120)
        #expect(sizing.nextSize(after: 10, took: .milliseconds(49)) == 11, "under the target: at least one more row")
        var size = sizing.first
        var sizes: [Int] = []
        for _ in 0..<12 {
            size = sizing.nextSize(after: size, took: .milliseconds(5))
            sizes.append(size)
        }
        #expect(sizes.prefix(6) == [120, 144, 172, 206, 247, 296])
        #expect(sizes.dropFirst(6).allSatisfy { $0 == 300 }, "never above max_batch: \(sizes)")
    }

    @Test("with target_batch_time a batch over the target shrinks the next in proportion, down to min_batch")
    func shrinks() {
        let sizing = BatchSizing(batchSize: 1000, target: .milliseconds(50))
        #expect(sizing.minimum == 10 && sizing.maximum == 10_000)
        #expect(sizing.nextSize(after: 1000, took: .milliseconds(100)) == 500)
        #expect(sizing.nextSize(after: 1000, took: .milliseconds(200)) == 250)
        #expect(sizing.nextSize(after: 1000, took: .milliseconds(50)) == 1000, "on target: unchanged")
        #expect(sizing.nextSize(after: 1000, took: .seconds(60)) == 10, "never below min_batch")
    }

    @Test("defaults: min_batch first with a target; fixed batches keep batch_size as their ceiling")
    func defaults() {
        let timed = BatchSizing(batchSize: nil, target: .milliseconds(50))
        #expect(timed.first == 10 && timed.minimum == 10 && timed.maximum == 10_000)
        let fixed = BatchSizing(batchSize: 1000)
        #expect(fixed.first == 1000 && fixed.minimum == 10 && fixed.maximum == 1000 && fixed.target == nil)
        #expect(fixed.nextSize(after: 1000, took: .milliseconds(120)) == 500, "over 50 ms: halved")
        #expect(fixed.nextSize(after: 500, took: .milliseconds(5)) == 1000, "quick: doubled, up to batch_size")
        #expect(BatchSizing(batchSize: 7).minimum == 7, "a batch_size under 10 is its own floor")
    }

    @Test("the sizing keys decode into the phase's backfill and the pattern's")
    func decodes() throws {
        let change = try Change.parse(
            """
            change: 0001_x
            phases:
              - name: fill
                backfill: {table: users, set: "a = 1", target_batch_time: 40ms, min_batch: 5, max_batch: 500}
            """, file: "c.yaml")
        let backfill = try #require(change.phases.first?.backfill)
        #expect(backfill.sizing == BatchSizing(batchSize: 5, minimum: 5, maximum: 500, target: .milliseconds(40)))
        #expect(backfill.batchSize == 5, "without batch_size the first batch is min_batch")
        let pattern = try Change.parse(
            """
            change: 0002_x
            pattern:
              add-column: {table: users, column: b, type: int, backfill: "1", target_batch_time: 50ms, batch_size: 200}
            """, file: "c.yaml")
        let filled = try #require(pattern.phases.compactMap(\.backfill).first)
        #expect(filled.sizing == BatchSizing(batchSize: 200, target: .milliseconds(50)))
        #expect(filled.sizing.maximum == 10_000)
    }

    @Test(
        "a sizing that cannot work is reported at its value's place",
        arguments: [
            ("target_batch_time: 0ms", "target_batch_time", "target_batch_time must be above zero"),
            (
                "target_batch_time: 50ms, min_batch: 500, max_batch: 100", "min_batch",
                "min_batch 500 is above max_batch 100"
            ),
            ("target_batch_time: 50ms, min_batch: 0", "min_batch", "expected a number of at least 1, found 0"),
            (
                "target_batch_time: 50ms, batch_size: 20000", "batch_size",
                "batch_size 20000 (the first batch's size) is outside"
            ),
            ("batch_size: 100, min_batch: 200", "min_batch", "min_batch 200 is above batch_size 100"),
            ("target_batch_time: 50ms, max_batch: 5", "max_batch", "min_batch 10 (its default) is above max_batch 5"),
        ])
    func reported(_ keys: String, _ key: String, _ message: String) throws {
        let line = "    backfill: {table: users, set: \"a = 1\", \(keys)}"
        let text = "change: 0001_x\nphases:\n  - name: fill\n\(line)\n"
        let at = try #require(line.range(of: "\(key): "))
        let column = line.distance(from: line.startIndex, to: at.upperBound) + 1
        let found = diagnostics(of: text, as: .change, file: "c.yaml")
        let match = found.first {
            $0.location.line == 4 && $0.location.column == column && $0.message.contains(message)
        }
        #expect(match != nil, "expected 4:\(column) \(message); got\n\(describe(found))")
    }
}
