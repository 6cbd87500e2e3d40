import Logging
import PostgresNIO

/// Paces a backfill that runs while the application writes the same table. After each batch (one short
/// transaction) it decides how long to wait and how many rows the next batch takes:
///
/// - a batch that held its row locks longer than `lockHoldTarget` halves the next batch (down to `minimumBatch`);
///   quick batches let it grow back to the configured `batch_size`;
/// - while sessions wait on the batch's locks (sampled inside the batch, before it commits), the pause after it
///   backs off, doubling from `backoffStep` up to `maximumBackoff` on top of the configured `pause`; it eases off one
///   step per batch that blocked nobody.
struct BackfillThrottle: Sendable {
    /// The configured pause between batches.
    let pause: Duration
    /// The configured batch size: the most rows a batch ever takes.
    let maximumBatch: Int
    var minimumBatch = 10
    var lockHoldTarget: Duration = .milliseconds(50)
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

    init(pause: Duration, batchSize: Int) {
        self.pause = pause
        self.maximumBatch = max(1, batchSize)
        self.batchSize = max(1, batchSize)
    }

    /// Records a batch that took `duration`, changed `rows` rows and had `blocked` sessions waiting on its locks;
    /// returns how long to wait before the next one.
    mutating func record(batch duration: Duration, rows: Int64, blocked: Int) -> Duration {
        batches += 1
        self.rows += rows
        longestBatch = max(longestBatch, duration)
        if duration > lockHoldTarget {
            batchSize = max(min(minimumBatch, maximumBatch), batchSize / 2)
        } else if duration * 4 < lockHoldTarget {
            batchSize = min(maximumBatch, batchSize * 2)
        }
        if blocked > 0 {
            blockingBatches += 1
            backoffLevel = min(backoffLevel + 1, 16)
        } else {
            backoffLevel = max(backoffLevel - 1, 0)
        }
        return pause + backoff
    }

    /// The wait added to `pause` at the current backoff level.
    var backoff: Duration {
        guard backoffLevel > 0 else { return .zero }
        var wait = backoffStep
        for _ in 1..<backoffLevel where wait < maximumBackoff { wait = wait * 2 }
        return min(wait, maximumBackoff)
    }

    /// For the journal: rows, batches, the longest batch, backoffs.
    var summary: String {
        "\(rows) rows in \(batches) batches, longest batch \(longestBatch.milliseconds) ms, "
            + "\(blockingBatches) batches kept others waiting, last batch size \(batchSize) of \(maximumBatch)"
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
