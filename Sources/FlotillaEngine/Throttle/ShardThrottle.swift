// For a step that wants to wait between its batches: `ThrottleGate.waitUntilClear(shard:)`, reached from a tenant
// step as `try await throttle.waitUntilClear(shard: tenant.shard)` (`TenantStep.throttle`, `.open` when the policy
// has no `throttle:`, then it returns at once).

import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// What a piece of work needs of the throttle: a way to wait until its shard may go on. Handed down to tenant
/// steps instead of the throttle itself.
public struct ThrottleGate: Sendable {
    private let wait: (@Sendable (String) async throws -> Void)?

    init(_ wait: (@Sendable (String) async throws -> Void)?) {
        self.wait = wait
    }

    /// No throttle: never waits.
    public static let open = ThrottleGate(nil)

    /// Returns once `shard` is not throttled (at once when no throttle is configured); throws when cancelled.
    public func waitUntilClear(shard: String) async throws {
        try await wait?(shard)
    }
}

/// A change of a shard's throttle, for the journal.
enum ThrottleChange: Sendable {
    /// The shard became throttled, or is throttled by another signal now.
    case throttled(ThrottleCause)
    /// The shard is clear again after `cause`.
    case cleared(shard: String, after: ThrottleCause)
    /// A signal went above its `halt_above`: the rollout must halt.
    case halt(ThrottleCause)
}

/// The throttle of one rollout: one monitor per shard, each on one connection of its own (not from the tenants'
/// pool, so it reads while the pool is busy), reading the policy's signals every `interval`. Steps ask it whether
/// their shard may start new work.
actor ShardThrottle {
    nonisolated let throttle: Throttle
    nonisolated let shards: [String: ConnectionURL]
    nonisolated let deadlines: ConnectionDeadlines
    nonisolated let environment: [String: String]
    nonisolated let logger: Logger
    nonisolated let onChange: @Sendable (ThrottleChange) async -> Void

    private var verdicts: [String: ShardVerdict] = [:]
    /// What was last journaled per shard (nil: clear).
    private var reported: [String: ThrottleCause] = [:]
    private var halted = false

    init(
        throttle: Throttle, shards: [String: ConnectionURL], deadlines: ConnectionDeadlines,
        environment: [String: String], logger: Logger, onChange: @escaping @Sendable (ThrottleChange) async -> Void
    ) {
        self.throttle = throttle
        self.shards = shards
        self.deadlines = deadlines
        self.environment = environment
        self.logger = logger
        self.onChange = onChange
        // Before the first reading every signal is unknown.
        if throttle.onUnknown == .pause, let first = throttle.signals.first {
            for shard in shards.keys {
                verdicts[shard] = .paused(
                    ThrottleCause(
                        shard: shard, signal: first.name, value: nil, threshold: first.pauseAbove,
                        valueText: "not read yet", thresholdText: first.format(first.pauseAbove), since: Date()))
            }
        }
    }

    /// The gate handed to steps.
    nonisolated var gate: ThrottleGate {
        ThrottleGate { [self] shard in try await self.waitUntilClear(shard: shard) }
    }

    func verdict(_ shard: String) -> ShardVerdict { verdicts[shard] ?? .clear }

    func isPaused(_ shard: String) -> Bool { verdicts[shard]?.cause != nil }

    /// Shards where no new step may start now.
    func pausedShards() -> Set<String> { Set(verdicts.filter { $0.value.cause != nil }.keys) }

    /// Why `shard` is throttled now, if it is.
    func cause(_ shard: String) -> ThrottleCause? { verdicts[shard]?.cause }

    /// Waits while `shard` is throttled.
    func waitUntilClear(shard: String) async throws {
        while isPaused(shard) {
            try await Task.sleep(for: .milliseconds(100))
        }
        try Task.checkCancellation()
    }

    /// Runs every shard's monitor until cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for (shard, url) in shards {
                group.addTask { await self.monitor(shard: shard, url: url) }
            }
            await group.waitForAll()
        }
    }

    /// Records one round of readings of a shard, and journals what changed.
    func record(shard: String, readings: [ThrottleReading]) async {
        let previous = verdicts[shard] ?? .clear
        let verdict = ShardVerdict.of(
            readings, shard: shard, onUnknown: throttle.onUnknown, previous: previous, now: Date())
        verdicts[shard] = verdict
        var changes: [ThrottleChange] = []
        if case .halt(let cause) = verdict, !halted {
            halted = true
            changes.append(.halt(cause))
        }
        let old = reported[shard]
        switch (old, verdict.cause) {
        case (nil, let cause?):
            changes.append(.throttled(cause))
        case (let old?, nil):
            changes.append(.cleared(shard: shard, after: old))
        case (let old?, let cause?) where old.signal != cause.signal || (old.value == nil) != (cause.value == nil):
            changes.append(.throttled(cause))
        default:
            break
        }
        reported[shard] = verdict.cause
        for change in changes { await onChange(change) }
    }

    /// One shard's monitor: a read-only session of its own (and one per replica), every `interval`.
    nonisolated func monitor(shard: String, url: ConnectionURL) async {
        var sessions: [String: PostgresConnection] = [:]
        var openErrors: [String: String] = [:]
        let interval = throttle.interval
        let pgpass = PgPass.load(environment: environment)
        func session(_ key: String, _ target: ConnectionURL) async -> PostgresConnection? {
            if let open = sessions[key] { return open }
            do {
                var quick = deadlines
                quick.connect = min(quick.connect, max(interval * 5, .seconds(5)))
                let connection = try await target.openConnection(deadlines: quick, logger: logger)
                let timeout = max(interval, .seconds(1)).milliseconds
                try await connection.query(
                    """
                    SELECT set_config('application_name', 'flotilla-throttle', false),
                           set_config('default_transaction_read_only', 'on', false),
                           set_config('statement_timeout', \("\(timeout)ms"), false),
                           set_config('lock_timeout', \("\(timeout)ms"), false)
                    """, logger: logger
                ).collect()
                sessions[key] = connection
                openErrors[key] = nil
                return connection
            } catch {
                openErrors[key] = DatabaseFailure(error).message
                return nil
            }
        }
        while !Task.isCancelled {
            let started = ContinuousClock.now
            var readings: [ThrottleReading] = []
            for signal in throttle.signals {
                var key = "primary"
                var target = url
                if let replica = signal.replica {
                    key = replica
                    do {
                        target = try ConnectionURL(parsing: replica, environment: environment, pgpass: pgpass)
                    } catch {
                        readings.append(.init(signal: signal, error: "bad replica URL: \(error)"))
                        continue
                    }
                }
                guard let connection = await session(key, target) else {
                    readings.append(.init(signal: signal, error: "cannot connect: \(openErrors[key] ?? "?")"))
                    continue
                }
                do {
                    let value = try await withTimeout(max(interval * 3, .seconds(3))) {
                        try await ThrottleSignalReader.read(signal, on: connection, logger: self.logger)
                    }
                    readings.append(.init(signal: signal, value: value))
                } catch {
                    if Task.isCancelled { break }
                    let failure = DatabaseFailure(error)
                    readings.append(.init(signal: signal, error: failure.message))
                    if failure.isConnectionLoss || failure.sqlState == nil {
                        // A session that failed without a server answer is not used again.
                        try? await sessions[key]?.close()
                        sessions[key] = nil
                    }
                }
            }
            if Task.isCancelled { break }
            await record(shard: shard, readings: readings)
            let elapsed = ContinuousClock.now - started
            if elapsed < interval { try? await Task.sleep(for: interval - elapsed) }
        }
        for connection in sessions.values { try? await connection.close() }
    }
}
