/// A policy's `throttle:`: health signals read from each shard's server while the rollout runs. A signal above its
/// `pause_above` stops new tenant steps on that shard until it is below again (the other shards go on); above its
/// `halt_above` the rollout halts. A signal that cannot be read is unknown, never healthy.
public struct Throttle: Sendable, Hashable {
    /// What an unreadable signal means.
    public enum OnUnknown: String, Sendable, Hashable, CaseIterable {
        /// Unknown counts as above `pause_above`: no new step starts on the shard.
        case pause
        /// Unknown is ignored: the shard goes on as if the signal were not configured.
        case ignore
    }

    /// How often each shard's signals are read.
    public var interval: Duration
    public var onUnknown: OnUnknown
    public var signals: [ThrottleSignal]
    /// Lock-aware deferral: how many times a tenant's step may be put back at the end of its wave's queue because an
    /// old transaction holds a lock on one of its tables, before it runs anyway (0 turns deferral off).
    public var maxDeferrals: Int
    public var location: SourceLocation

    public init(
        interval: Duration = .seconds(1), onUnknown: OnUnknown = .pause, signals: [ThrottleSignal],
        maxDeferrals: Int = 10, location: SourceLocation
    ) {
        self.interval = interval
        self.onUnknown = onUnknown
        self.signals = signals
        self.maxDeferrals = maxDeferrals
        self.location = location
    }
}

/// One health signal of a throttle, with its thresholds. Values are in the signal's unit: seconds for
/// `replication_lag` and `long_transactions`, a share from 0 to 1 for `active_sessions`, a count otherwise.
public struct ThrottleSignal: Sendable, Hashable {
    /// The signals Flotilla knows how to read.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The largest `replay_lag` in `pg_stat_replication` on the primary, or with `replica:`,
        /// `now() - pg_last_xact_replay_timestamp()` read on the replica. Seconds.
        case replicationLag = "replication_lag"
        /// Sessions of the shard's database waiting for a lock (`pg_locks` not granted). A count.
        case lockWaiters = "lock_waiters"
        /// The age of the oldest open transaction of another, non-idle session on the shard's database. Seconds.
        case longTransactions = "long_transactions"
        /// Non-idle sessions on the server as a share of `max_connections`. 0 to 1.
        case activeSessions = "active_sessions"
        /// WAL segments waiting for `archive_command` (`.ready` files in `pg_wal/archive_status`). A count.
        case walArchiveBacklog = "wal_archive_backlog"

        /// The unit its thresholds are written in.
        public var unit: Unit {
            switch self {
            case .replicationLag, .longTransactions: return .seconds
            case .activeSessions: return .share
            case .lockWaiters, .walArchiveBacklog: return .count
            }
        }
    }

    public enum Unit: Sendable, Hashable {
        case seconds, share, count
    }

    public enum Source: Sendable, Hashable {
        case builtIn(Kind)
        /// A read-only query whose first column of the first row is the number.
        case sql(name: String, query: String)
    }

    public var source: Source
    public var pauseAbove: Double
    public var haltAbove: Double?
    /// For `replication_lag`: a replica's URL, read instead of the primary's `pg_stat_replication`.
    public var replica: String?
    public var location: SourceLocation

    public init(
        source: Source, pauseAbove: Double, haltAbove: Double? = nil, replica: String? = nil, location: SourceLocation
    ) {
        self.source = source
        self.pauseAbove = pauseAbove
        self.haltAbove = haltAbove
        self.replica = replica
        self.location = location
    }

    /// The signal's name in events, status and metrics: the kind, or the `name:` of a `sql:` signal.
    public var name: String {
        switch source {
        case .builtIn(let kind): return kind.rawValue
        case .sql(let name, _): return name
        }
    }

    public var unit: Unit {
        if case .builtIn(let kind) = source { return kind.unit }
        return .count
    }

    /// A value of this signal as written in a policy: `5s`, `80%`, `7`.
    public func format(_ value: Double) -> String {
        switch unit {
        case .seconds:
            if value >= 1, value == value.rounded() { return "\(Int(value))s" }
            return "\(Int((value * 1000).rounded()))ms"
        case .share:
            let percent = value * 100
            return percent == percent.rounded() ? "\(Int(percent))%" : "\(percent)%"
        case .count:
            return value == value.rounded() && abs(value) < 1e15 ? "\(Int(value))" : "\(value)"
        }
    }
}
