import FlotillaModel
import Foundation
import Logging

extension RolloutEngine {
    /// The webhooks of a run: the policy's `notify:` and the fleet's, about rollout `rolloutID`.
    func notifier(rolloutID: String, change: Change, policy: Policy) -> Notifier {
        let environment = ProcessInfo.processInfo.environment
        return Notifier(
            targets: policy.notify + connections.fleet.notify,
            context: Notifier.Context(
                rollout: rolloutID, fleet: connections.fleet.name, change: change.id,
                dashboardURL: environment["FLOTILLA_DASHBOARD_URL"]),
            store: store, environment: environment, logger: logger)
    }

    /// This engine, with its events also going to `notifier` (itself when no webhook listens).
    func observing(through notifier: Notifier) -> RolloutEngine {
        guard notifier.isActive else { return self }
        let observe = self.observe
        var engine = RolloutEngine(
            store: store, connections: connections, logger: logger, owner: owner
        ) { event in
            observe(event)
            notifier.observe(event)
        }
        engine.leaseTTL = leaseTTL
        engine.claimTTL = claimTTL
        return engine
    }

    /// A copy of an engine under the same coordinator identity (`owner`), with another `observe`.
    private init(
        store: ControlStore, connections: FleetConnections, logger: Logger, owner: String,
        observe: @escaping @Sendable (RolloutEvent) -> Void
    ) {
        self.store = store
        self.connections = connections
        self.logger = logger
        self.observe = observe
        self.owner = owner
    }
}

extension RolloutEngine {
    /// For work outside `run` on an existing rollout (a revert by hand): this engine with the webhooks of `policy` and
    /// the fleet listening, and their notifier, to be drained with `Notifier.flushing` around the work.
    public func notifying(rolloutID: String, change: Change, policy: Policy) -> (
        engine: RolloutEngine, notifier: Notifier
    ) {
        let notifier = notifier(rolloutID: rolloutID, change: change, policy: policy)
        return (observing(through: notifier), notifier)
    }
}
