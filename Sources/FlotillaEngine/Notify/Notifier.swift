import AsyncHTTPClient
import FlotillaModel
import FlotillaPostgres
import Foundation
import Logging
import NIOCore
import Synchronization

/// Tells a rollout's webhooks (`notify:` of its policy and its fleet) about its turning points. Posting never waits:
/// each webhook has a queue of its own, delivered in order in the background with retries and exponential backoff.
/// A notification that cannot be delivered is given up and journaled as a `notify-gave-up` event; the rollout goes
/// on either way. `finish(within:)` lets the queues drain when the run is over.
public final class Notifier: Sendable {
    /// Which rollout the notifications are about.
    public struct Context: Sendable, Hashable {
        public var rollout: String
        public var fleet: String
        public var change: String
        /// The dashboard's base URL (`FLOTILLA_DASHBOARD_URL`): notifications link to the rollout's page on it.
        public var dashboardURL: String?

        public init(rollout: String, fleet: String, change: String, dashboardURL: String? = nil) {
            self.rollout = rollout
            self.fleet = fleet
            self.change = change
            self.dashboardURL = dashboardURL
        }

        /// The rollout's page on the dashboard, when its URL is known.
        public var statusURL: String? {
            guard var base = dashboardURL, !base.isEmpty else { return nil }
            while base.hasSuffix("/") { base.removeLast() }
            return "\(base)/rollouts/\(rollout)"
        }
    }

    public let targets: [Notify]
    public let context: Context
    private let queues: [AsyncStream<RolloutNotification>.Continuation]
    private let worker: Task<Void, Never>?
    /// The phase the rollout is in, from the engine's events: a rollout's end names the phase it ended in.
    private let phase = Mutex<String?>(nil)
    /// Phases that already sent a `failed`: the first failure of a phase is sent, not one per tenant.
    private let failedPhases = Mutex<Set<String>>([])

    /// `environment` holds the variables `secret_env` names; `store` journals what was given up.
    public init(
        targets: [Notify], context: Context, store: ControlStore?,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger
    ) {
        self.targets = targets
        self.context = context
        guard !targets.isEmpty else {
            queues = []
            worker = nil
            return
        }
        var streams: [AsyncStream<RolloutNotification>] = []
        var queues: [AsyncStream<RolloutNotification>.Continuation] = []
        for _ in targets {
            let (stream, continuation) = AsyncStream.makeStream(of: RolloutNotification.self)
            streams.append(stream)
            queues.append(continuation)
        }
        self.queues = queues
        let delivery = WebhookDelivery(store: store, environment: environment, logger: logger)
        // Owned by this notifier and awaited by `finish`: the queues outlive the engine's callbacks that feed them.
        worker = Task {
            await withDiscardingTaskGroup { group in
                for (target, stream) in zip(targets, streams) {
                    group.addTask {
                        for await notification in stream { await delivery.deliver(notification, to: target) }
                    }
                }
            }
        }
    }

    /// Whether any webhook listens.
    public var isActive: Bool { !targets.isEmpty }

    /// Queues `notification` for every webhook that asked for its event. Never waits.
    public func post(_ notification: RolloutNotification) {
        for (target, queue) in zip(targets, queues) where target.wants(notification.event) {
            queue.yield(notification)
        }
    }

    /// Turns an engine event into a notification when it is a turning point (see `Notify.Event`).
    public func observe(_ event: RolloutEvent) {
        guard isActive else { return }
        switch event {
        case .phaseStarted(let name, _, _):
            phase.withLock { $0 = name }
        case .awaitingApproval(_, let name):
            post(notification(.awaitingApproval, phase: name))
        case .quarantined(let name, let tenants):
            post(notification(.quarantined, phase: name, tenants: tenants))
        case .stepFailed(let error):
            guard failedPhases.withLock({ $0.insert(error.phase).inserted }) else { return }
            post(
                notification(
                    .failed, phase: error.phase,
                    reason: "\(error.sqlState.map { "SQLSTATE \($0): " } ?? "")\(error.message)",
                    tenants: [error.tenant]))
        case .finished(_, let state, let reason):
            let current = phase.withLock { $0 }
            switch state {
            case .done: post(notification(.done, phase: current, reason: reason))
            case .halted: post(notification(.halted, phase: current, reason: reason))
            case .reverted: post(notification(.reverted, phase: current, reason: reason))
            default: break
            }
        default:
            break
        }
    }

    /// The coordinator stopped on an error (not a cancellation): a `failed` notification.
    public func coordinatorFailed(_ error: any Error) {
        guard isActive, !(error is CancellationError) else { return }
        post(notification(.failed, phase: phase.withLock { $0 }, reason: "the coordinator stopped: \(error)"))
    }

    func notification(
        _ event: Notify.Event, phase: String? = nil, reason: String? = nil, tenants: [String]? = nil
    ) -> RolloutNotification {
        RolloutNotification(
            event: event, rollout: context.rollout, fleet: context.fleet, change: context.change, phase: phase,
            reason: reason, tenants: tenants, url: context.statusURL)
    }

    /// Closes the queues and waits until they are delivered, at most `limit`; what is still queued or retrying then
    /// is given up (and journaled). Waits for nothing when no webhook listens.
    public func finish(within limit: Duration = .seconds(30)) async {
        for queue in queues { queue.finish() }
        guard let worker else { return }
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await worker.value
                return true
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            if await group.next() == false {
                // Out of time (or the run was stopped): the deliveries stop and journal what they gave up.
                worker.cancel()
            }
            group.cancelAll()
        }
    }

    /// Runs `body` (a rollout's run), then drains the queues; a run that throws sends `failed` first.
    public func flushing<T: Sendable>(within limit: Duration = .seconds(30), _ body: () async throws -> T)
        async throws -> T
    {
        do {
            let result = try await body()
            await finish(within: limit)
            return result
        } catch {
            coordinatorFailed(error)
            await finish(within: limit)
            throw error
        }
    }
}

/// One webhook's deliveries: POST with retries and exponential backoff, signed when `secret_env` is set.
struct WebhookDelivery: Sendable {
    let store: ControlStore?
    let environment: [String: String]
    let logger: Logger

    func deliver(_ notification: RolloutNotification, to target: Notify) async {
        let body = notification.body(target.format)
        var headers: [(String, String)] = [
            ("Content-Type", "application/json"), ("User-Agent", "flotilla"),
            ("X-Flotilla-Event", notification.event.rawValue),
        ]
        if let name = target.secretEnv {
            guard let secret = environment[name], !secret.isEmpty else {
                await giveUp(
                    notification, target, tries: 0,
                    problem: "environment variable \(name) (secret_env) is not set; not sent unsigned")
                return
            }
            headers.append(("X-Flotilla-Signature", HMACSHA256.signature(secret: secret, body: body)))
        }
        var problem = ""
        var wait = target.backoff
        var tries = 0
        for attempt in 1...target.attempts {
            if Task.isCancelled {
                problem += problem.isEmpty ? "stopped before it was sent" : "; stopped before the next try"
                break
            }
            tries = attempt
            var request = HTTPClientRequest(url: target.url)
            request.method = .POST
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await HTTPClient.shared.execute(
                    request, timeout: .milliseconds(Int64(target.timeout.milliseconds)))
                _ = try? await response.body.collect(upTo: 1 << 16)
                if (200..<300).contains(Int(response.status.code)) {
                    logger.debug(
                        "webhook delivered",
                        metadata: [
                            "webhook": "\(Self.redacted(target.url))", "event": "\(notification.event.rawValue)",
                            "rollout": "\(notification.rollout)", "tries": "\(attempt)",
                        ])
                    return
                }
                problem = "HTTP \(response.status.code)"
            } catch {
                problem = Task.isCancelled ? "stopped while sending" : "\(error)"
            }
            guard attempt < target.attempts else { break }
            do { try await Task.sleep(for: wait) } catch {
                problem += "; stopped before the next try"
                break
            }
            wait = wait * 2
        }
        await giveUp(notification, target, tries: tries, problem: problem)
    }

    func giveUp(_ notification: RolloutNotification, _ target: Notify, tries: Int, problem: String) async {
        let message =
            "webhook \(Self.redacted(target.url)) gave up on \(notification.event.rawValue) after \(tries) "
            + "\(tries == 1 ? "try" : "tries"): \(problem)"
        logger.warning(
            "webhook gave up",
            metadata: [
                "webhook": "\(Self.redacted(target.url))", "event": "\(notification.event.rawValue)",
                "rollout": "\(notification.rollout)", "problem": "\(problem)",
            ])
        guard let store else { return }
        let (rollout, phase) = (notification.rollout, notification.phase)
        try? await uncancelled {
            try await store.event(rollout, "notify-gave-up", phase: phase, message)
        }
    }

    /// A webhook's URL as it may be shown: scheme, host and port only (webhook paths and queries often hold a token).
    static func redacted(_ url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            let host = components.host
        else { return "(webhook)" }
        return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")/…"
    }
}
