import FlotillaEngine
import Foundation
import Hummingbird

/// `/metrics`: the Prometheus text exposition format (version 0.0.4), written by hand.
enum Metrics {
    /// The states a rollout can be in; each is reported, with 0 when no rollout is in it.
    static let rolloutStates = RolloutState.allCases.map(\.rawValue)

    static func response(store: ControlStore) async throws -> Response {
        let text = try await render(store: store)
        return .text(text, contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    static func render(store: ControlStore) async throws -> String {
        let rollouts = try await store.rolloutStateCounts()
        let steps = try await store.unfinishedStepCounts()
        let halts = try await store.activeHalts()
        let throttled = try await store.throttledShards()
        var lines = [
            "# HELP flotilla_rollouts Rollouts in the control store, by state.",
            "# TYPE flotilla_rollouts gauge",
        ]
        let states = rolloutStates + rollouts.keys.filter { !rolloutStates.contains($0) }.sorted()
        for state in states {
            lines.append("flotilla_rollouts{state=\"\(label(state))\"} \(rollouts[state] ?? 0)")
        }
        lines += [
            "# HELP flotilla_steps Steps (phase x tenant) of unfinished rollouts, by state.",
            "# TYPE flotilla_steps gauge",
        ]
        for step in steps {
            lines.append(
                "flotilla_steps{rollout=\"\(label(step.rollout))\",state=\"\(label(step.state))\"} \(step.count)")
        }
        lines += [
            "# HELP flotilla_halts_active Halts in force (per fleet or global) until resumed.",
            "# TYPE flotilla_halts_active gauge",
            "flotilla_halts_active \(halts.count)",
            "# HELP flotilla_shard_throttled Shards of unfinished rollouts where no new step starts now, by the signal.",
            "# TYPE flotilla_shard_throttled gauge",
        ]
        for shard in throttled {
            lines.append(
                "flotilla_shard_throttled{rollout=\"\(label(shard.rollout))\",shard=\"\(label(shard.shard))\",signal=\"\(label(shard.signal))\"} 1"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A label value: backslash, double quote and line feed escaped.
    static func label(_ value: String) -> String {
        var result = ""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }
}
