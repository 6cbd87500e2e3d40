/// How a backfill sizes its batches: the first batch's size, the bounds every batch stays within, and the rule for
/// the next batch's size after each one.
///
/// - With `target_batch_time` the next batch is the last one's size times `target / took`, the time a batch should
///   take over the time it took: it shrinks in proportion when a batch runs over the target and grows while batches
///   finish under it, by at most ``maximumGrowth`` (20%) a batch — GitLab's batch optimizer for batched background
///   migrations, applied batch by batch. Bounds: `min_batch` (default 10) to `max_batch` (default 10000); first:
///   `batch_size`, else `min_batch`.
/// - Without it (fixed batches of `batch_size`): a batch that held its row locks longer than ``lockHoldTarget``
///   halves the next one, and one that took under a quarter of it doubles the next; bounds `min_batch` (default 10,
///   or `batch_size` when smaller) to `max_batch` (default `batch_size`).
///
/// ```yaml
/// backfill: {table: users, set: "score = 0", target_batch_time: 50ms, min_batch: 10, max_batch: 10000}
/// ```
public struct BatchSizing: Sendable, Hashable {
    /// The first batch's size.
    public var first: Int
    /// The fewest rows a batch takes (`min_batch`).
    public var minimum: Int
    /// The most rows a batch takes (`max_batch`).
    public var maximum: Int
    /// How long a batch should take (`target_batch_time`); nil for fixed batches.
    public var target: Duration?

    public static let defaultMinimum = 10
    public static let defaultMaximum = 10_000
    /// The most a batch grows on the next one with a target: 20%.
    public static let maximumGrowth = 1.2
    /// Fixed batches: the longest a batch should hold its row locks before the next one is halved.
    public static let lockHoldTarget: Duration = .milliseconds(50)

    /// The sizing `batch_size`, `min_batch`, `max_batch` and `target_batch_time` describe (each nil when not given).
    public init(batchSize: Int?, minimum: Int? = nil, maximum: Int? = nil, target: Duration? = nil) {
        if target != nil {
            self.minimum = max(1, minimum ?? Self.defaultMinimum)
            self.maximum = max(self.minimum, maximum ?? Self.defaultMaximum)
            self.first = batchSize ?? self.minimum
        } else {
            let size = max(1, batchSize ?? 1000)
            self.maximum = max(1, maximum ?? size)
            self.minimum = min(self.maximum, max(1, minimum ?? min(Self.defaultMinimum, size)))
            self.first = size
        }
        self.first = min(self.maximum, max(self.minimum, first))
        self.target = target
    }

    /// `size` brought within `minimum`…`maximum`.
    public func clamp(_ size: Int) -> Int { max(minimum, min(maximum, size)) }

    /// The size of the batch after one of `size` rows that took `took` (BEGIN to COMMIT).
    public func nextSize(after size: Int, took: Duration) -> Int {
        guard let target else {
            if took > Self.lockHoldTarget { return clamp(size / 2) }
            if took * 4 < Self.lockHoldTarget { return clamp(size * 2) }
            return clamp(size)
        }
        let factor = took > .zero ? min(target / took, Self.maximumGrowth) : Self.maximumGrowth
        // (The epsilon keeps 10 × 1.2 at 12 however the product rounds.)
        var next = Int((Double(size) * factor + 1e-9).rounded(.down))
        // A batch under the target grows by at least a row, so that tiny sizes grow too.
        if factor > 1, next <= size { next = size + 1 }
        return clamp(next)
    }

    /// For `plan` and the journal: "batches of 1000 rows (10 to 1000 …)" or "batches sized to take 50ms …".
    public var description: String {
        guard let target else {
            return "batches of \(first) rows, halved while one holds its row locks over "
                + "\(Self.lockHoldTarget.flotillaDescription) (down to \(minimum))"
        }
        return "batches sized to take \(target.flotillaDescription) each: \(first) rows first, then the last size × "
            + "target/took, growing by at most 20% a batch, within \(minimum) to \(maximum) rows"
    }
}
