import FlotillaModel
import Logging
import PostgresNIO

/// Paces a backfill that runs while the application writes the same table. After each batch (one short
/// transaction) it decides how long to wait and how many rows the next batch takes:
///
/// - the next batch's size comes from the backfill's ``BatchSizing``: with `target_batch_time`, the last size times
///   target/took (growing by at most 20%, shrinking in proportion), within `min_batch`…`max_batch`; with a fixed
///   `batch_size`, a batch that held its row locks longer than 50 ms halves the next one (down to `min_batch`) and
///   quick batches let it grow back to `batch_size`;
/// - while sessions wait on the batch's locks (sampled inside the batch, before it commits), the pause after it
///   backs off, doubling from `backoffStep` up to `maximumBackoff` on top of the configured `pause`; it eases off one
///   step per batch that blocked nobody.
struct BackfillThrottle: Sendable {
    /// The configured pause between batches.
    let pause: Duration
    let sizing: BatchSizing
    var backoffStep: Duration = .milliseconds(10)
    var maximumBackoff: Duration = .seconds(2)

    /// Rows the next batch takes.
    private(set) var batchSize: Int
    /// How many times in a row the pause was doubled.
    private(set) var backoffLevel = 0
    private(set) var batches = 0
    private(set) var rows: Int64 = 0
    /// The longest a batch held its row locks (its transaction, from BEGIN to COMMIT).
    private(set) var longestBatch: Duration = .zero
    /// Batches after which sessions were waiting on the backfill's locks.
    private(set) var blockingBatches = 0
    /// The smallest and largest sizes a batch was given (the rows it asked for; the last batch may find fewer).
    private(set) var smallestSize: Int
    private(set) var largestSize: Int
    /// How long the backfill waited between batches for its shard's throttle, and how many times.
    private(set) var throttledFor: Duration = .zero
    private(set) var throttledTimes = 0

    /// The most rows a batch ever takes.
    var maximumBatch: Int { sizing.maximum }

    init(pause: Duration, sizing: BatchSizing) {
        self.pause = pause
        self.sizing = sizing
        self.batchSize = sizing.first
        self.smallestSize = sizing.first
        self.largestSize = sizing.first
    }

    /// Fixed batches of `batchSize`.
    init(pause: Duration, batchSize: Int) {
        self.init(pause: pause, sizing: BatchSizing(batchSize: batchSize))
    }

    init(_ backfill: Backfill) {
        self.init(pause: backfill.pause, sizing: backfill.sizing)
    }

    /// Records a batch that took `duration`, changed `rows` rows and had `blocked` sessions waiting on its locks;
    /// returns how long to wait before the next one.
    mutating func record(batch duration: Duration, rows: Int64, blocked: Int) -> Duration {
        batches += 1
        self.rows += rows
        longestBatch = max(longestBatch, duration)
        // Sized by time: a short batch (the table's end, or the empty one after it) says nothing about how long a
        // full one takes.
        if sizing.target == nil || rows >= Int64(batchSize) {
            batchSize = sizing.nextSize(after: batchSize, took: duration)
        }
        if blocked > 0 {
            blockingBatches += 1
            backoffLevel = min(backoffLevel + 1, 16)
        } else {
            backoffLevel = max(backoffLevel - 1, 0)
        }
        return pause + backoff
    }

    /// Notes the size the next batch was given (after `record`, when there is a next batch).
    mutating func startingBatch() {
        smallestSize = min(smallestSize, batchSize)
        largestSize = max(largestSize, batchSize)
    }

    /// Records the time spent asking the shard's throttle between batches: a real pause lasts at least the throttle's
    /// 100 ms poll, so anything under 50 ms was a clear shard answering (and the scheduler), not a pause.
    mutating func recordThrottled(_ wait: Duration) {
        guard wait >= .milliseconds(50) else { return }
        throttledFor += wait
        throttledTimes += 1
    }

    /// The wait added to `pause` at the current backoff level.
    var backoff: Duration {
        guard backoffLevel > 0 else { return .zero }
        var wait = backoffStep
        for _ in 1..<backoffLevel where wait < maximumBackoff { wait = wait * 2 }
        return min(wait, maximumBackoff)
    }

    /// For the journal: rows, batches, the longest batch, backoffs, the sizes batches were given.
    var summary: String {
        var text =
            "\(rows) rows in \(batches) batches, longest batch \(longestBatch.milliseconds) ms, "
            + "\(blockingBatches) batches kept others waiting, last batch size \(batchSize) of \(maximumBatch)"
        if let target = sizing.target {
            text +=
                "; sized to \(target.flotillaDescription) a batch: first \(sizing.first), smallest \(smallestSize), "
                + "largest \(largestSize), final \(batchSize) (min \(sizing.minimum), max \(sizing.maximum))"
        }
        if throttledTimes > 0 {
            let times = throttledTimes == 1 ? "once" : "\(throttledTimes) times"
            text += "; waited \(throttledFor.milliseconds) ms for the shard's throttle (\(times))"
        }
        return text
    }

    /// Sessions waiting on a lock this session holds, right now (inside the batch's transaction, before COMMIT).
    static func blockedSessions(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query(
            "SELECT count(*)::bigint FROM pg_stat_activity WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid))",
            logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }
}
