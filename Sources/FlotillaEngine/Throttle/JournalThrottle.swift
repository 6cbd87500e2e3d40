import Foundation

/// The throttle as a follower coordinator sees it: it runs no monitors of its own (the leader does, and journals
/// which shards are throttled), and reads the journal's throttled shards at most every `freshness`.
actor JournalThrottle {
    nonisolated let store: ControlStore
    nonisolated let rollout: String
    nonisolated let freshness: Duration
    private var paused: Set<String> = []
    private var readAt: ContinuousClock.Instant?

    init(store: ControlStore, rollout: String, freshness: Duration = .milliseconds(500)) {
        self.store = store
        self.rollout = rollout
        self.freshness = freshness
    }

    /// Shards where no new step may start now, as the leader journaled them. A journal that cannot be read leaves the
    /// last answer in place.
    func pausedShards() async -> Set<String> {
        if let readAt, ContinuousClock.now - readAt < freshness { return paused }
        readAt = .now
        if let shards = try? await store.throttledShards(rollout) { paused = Set(shards.map(\.shard)) }
        return paused
    }

    /// The gate handed to steps.
    nonisolated var gate: ThrottleGate {
        ThrottleGate { [self] shard in
            while await self.pausedShards().contains(shard) {
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }
}
