import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import PostgresNIO

/// Watches for an emergency halt of this fleet: LISTENs on `flotilla_halt` (one leased connection for its lifetime)
/// and reads the halts table every `pollInterval` and at every step boundary, so a lost notification cannot matter.
/// On a halt it cancels the statements of every step in flight (`pg_cancel_backend`), so their transactions roll back.
public actor HaltMonitor {
    nonisolated let store: ControlStore
    nonisolated let fleet: String
    nonisolated let listen: Bool
    nonisolated let pollInterval: Duration
    private(set) var halt: HaltRecord?
    private var inFlight: [String: (shard: String, pid: Int32)] = [:]
    private var canceller: (@Sendable (String, Int32) async -> Void)?

    public init(store: ControlStore, fleet: String, listen: Bool = true, pollInterval: Duration = .seconds(1)) {
        self.store = store
        self.fleet = fleet
        self.listen = listen
        self.pollInterval = pollInterval
    }

    /// How to cancel a backend on a shard.
    func setCanceller(_ cancel: @escaping @Sendable (String, Int32) async -> Void) {
        canceller = cancel
    }

    /// When the halts table was last read.
    private var lastRead: ContinuousClock.Instant?

    /// Reads the halts table. Returns the halt, if any.
    @discardableResult
    func check() async throws -> HaltRecord? {
        if let halt { return halt }
        lastRead = .now
        if let found = try await store.activeHalts(fleet: fleet).first { await trip(found) }
        return halt
    }

    /// A step boundary: reads the halts table unless it was read within `freshness` (notifications and the poll
    /// trip the monitor in between; a read per step would cost a control-store round trip per step).
    func check(within freshness: Duration) async throws -> HaltRecord? {
        if let halt { return halt }
        if let lastRead, ContinuousClock.now - lastRead < freshness { return nil }
        return try await check()
    }

    var isHalted: Bool { halt != nil }

    func trip(_ record: HaltRecord) async {
        guard halt == nil else { return }
        halt = record
        let targets = inFlight.values.map { $0 }
        if let canceller {
            for target in targets { await canceller(target.shard, target.pid) }
        }
    }

    func register(tenant: String, shard: String, pid: Int32) async {
        inFlight[tenant] = (shard, pid)
        if halt != nil, let canceller { await canceller(shard, pid) }
    }

    func unregister(tenant: String) {
        inFlight[tenant] = nil
    }

    /// Runs until cancelled: the listener and the poll.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            if listen {
                group.addTask { await self.listenLoop() }
            }
            group.addTask { await self.pollLoop() }
            await group.waitForAll()
        }
        // Cancelled: this coordinator is stopping (Ctrl-C, SIGTERM).
        await cancelInFlight()
    }

    /// Cancels the statements of the steps in flight: they would run to their end, while this coordinator is
    /// stopping (or lost its lease); their transactions roll back now and the tenants stay before the phase.
    func cancelInFlight() async {
        let targets = Array(inFlight.values)
        if let canceller, !targets.isEmpty {
            try? await uncancelled {
                for target in targets { await canceller(target.shard, target.pid) }
            }
        }
    }

    private func pollLoop() async {
        while !Task.isCancelled {
            _ = try? await check()
            try? await Task.sleep(for: pollInterval)
        }
    }

    private func listenLoop() async {
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { connection in
                    try await connection.listen(on: ControlStore.haltChannel) { notifications in
                        for try await notification in notifications {
                            if notification.payload == "*" || notification.payload == self.fleet {
                                _ = try? await self.check()
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// A step stopped by a halt: not a failure; the tenant is left as before the phase.
struct HaltedError: Error, CustomStringConvertible {
    var halt: HaltRecord
    var description: String { halt.description }
}
