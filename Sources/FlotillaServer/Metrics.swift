import FlotillaEngine
import Foundation
import Hummingbird
import Metrics
import Prometheus

/// `/metrics`: the Prometheus text exposition format (version 0.0.4) of a `PrometheusCollectorRegistry` filled from
/// the control store at scrape time. `serve` is not the coordinator, so nothing is counted in this process: every
/// series is read from the journal (steps, measurements, halts) when scraped, in a registry of that scrape. Label
/// sets are bounded: states, verdicts, check names, signals, and rollouts still shown (never tenants).
enum Metrics {
    /// The states a rollout can be in; each is reported, with 0 when no rollout is in it.
    static let rolloutStates = RolloutState.allCases.map(\.rawValue)

    /// Upper bounds of the step-duration buckets: 10 ms to an hour.
    static let stepBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
    ]

    /// Upper bounds of the halt-to-stop buckets: a halt stops the steps in flight within seconds, or a step ran on.
    static let haltBuckets: [Double] = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900]

    static func response(store: ControlStore) async throws -> Response {
        let text = try await render(store: store)
        return .text(text, contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    static func render(store: ControlStore) async throws -> String {
        try await registry(store: store).emitToString() + process.emitToString()
    }

    /// This process's own series, recorded through swift-metrics: the requests it served (Hummingbird's
    /// `MetricsMiddleware`: `hb_requests`, `http_server_request_duration`, by route template, method and status).
    /// Empty until `bootstrap()`.
    static let process = PrometheusCollectorRegistry()

    private static let bootstrapped: Bool = {
        var factory = PrometheusMetricsFactory(registry: process)
        factory.nameAndLabelSanitizer = { name, labels in
            (prometheusName(name), labels.map { (prometheusName($0.0), $0.1) })
        }
        MetricsSystem.bootstrap(factory)
        return true
    }()

    /// Points swift-metrics at `process`, once per process (`serve` does, before it listens).
    static func bootstrap() { _ = bootstrapped }

    /// A metric or label name as Prometheus allows it: `http.route` is `http_route`.
    static func prometheusName(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" })
    }

    /// A registry holding every series, read from the control store now.
    static func registry(store: ControlStore) async throws -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        let rollouts = try await store.rolloutStateCounts()
        let states = rolloutStates + rollouts.keys.filter { !rolloutStates.contains($0) }.sorted()
        for state in states {
            registry.makeGauge(
                name: "flotilla_rollouts", labels: [("state", state)], help: "Rollouts in the control store, by state."
            ).set(rollouts[state] ?? 0)
        }
        for step in try await store.unfinishedStepCounts() {
            registry.makeGauge(
                name: "flotilla_steps", labels: [("rollout", step.rollout), ("state", step.state)],
                help: "Steps (phase x tenant) of unfinished rollouts, by state."
            ).set(step.count)
        }
        registry.makeGauge(name: "flotilla_halts_active", help: "Halts in force (per fleet or global) until resumed.")
            .set(try await store.activeHalts().count)
        for shard in try await store.throttledShards() {
            registry.makeGauge(
                name: "flotilla_shard_throttled",
                labels: [("rollout", shard.rollout), ("shard", shard.shard), ("signal", shard.signal)],
                help: "Shards of unfinished rollouts where no new step starts now, by the signal."
            ).set(1)
        }

        let durations = registry.makeDurationHistogram(
            name: "flotilla_step_duration_seconds", buckets: stepBuckets,
            help: "How long finished steps (phase x tenant) took, from the journal's steps.")
        for row in try await store.stepDurationCounts() {
            for _ in 0..<row.count { durations.record(.milliseconds(row.milliseconds)) }
        }

        for row in try await store.verdictCounts() {
            registry.makeCounter(
                name: "flotilla_check_verdicts_total", labels: [("check", row.check), ("verdict", row.verdict)],
                help: "Measurements recorded by each check, by verdict, from the journal's measurements."
            ).increment(by: Int64(row.count))
        }

        for row in try await store.tenantOutcomeCounts() {
            for (outcome, count) in [("done", row.done), ("failed", row.failed)] {
                registry.makeGauge(
                    name: "flotilla_rollout_tenants", labels: [("rollout", row.rollout), ("outcome", outcome)],
                    help: "Tenants of a rollout (unfinished or finished within a day) done or failed."
                ).set(count)
            }
        }

        let stops = registry.makeValueHistogram(
            name: "flotilla_halt_stop_seconds", buckets: haltBuckets,
            help: "From a halt to the end of the last step that was running when it came (0 when none was).")
        for seconds in try await store.haltStopSeconds() { stops.record(seconds) }
        return registry
    }
}

extension Prometheus.Gauge {
    fileprivate func set(_ count: Int) { set(to: Double(count)) }
}
