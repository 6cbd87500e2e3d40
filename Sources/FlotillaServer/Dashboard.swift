import FlotillaEngine
import Foundation
import Hummingbird

/// `/`: one self-contained HTML page — active halts first, then the recent rollouts with their progress per phase.
/// It reloads itself every 2 seconds. Every value from the store is escaped.
enum Dashboard {
    static func response(store: ControlStore) async throws -> Response {
        let rollouts = try await store.rollouts()
        let halts = try await store.activeHalts()
        var steps: [String: [ControlStore.StepRecord]] = [:]
        for rollout in rollouts { steps[rollout.id] = try await store.steps(rollout.id) }
        let page = render(halts: halts, rollouts: rollouts, steps: steps, now: Date())
        return .text(page, contentType: "text/html; charset=utf-8")
    }

    static func render(
        halts: [HaltRecord], rollouts: [ControlStore.RolloutRecord], steps: [String: [ControlStore.StepRecord]],
        now: Date
    ) -> String {
        var html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="refresh" content="2">
            <title>Flotilla</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
            h1{font-size:1.3em}
            table{border-collapse:collapse;margin-bottom:1em}
            th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
            .halt{background:#c62828;color:#fff;padding:.6em 1em;margin-bottom:.5em;font-weight:600}
            .state{font-weight:600}
            .bar{display:inline-block;width:10em;height:.8em;background:#eee;vertical-align:middle}
            .bar span{display:block;height:100%;background:#2e7d32}
            .muted{color:#777}
            </style>
            </head>
            <body>
            <h1>Flotilla</h1>

            """
        for halt in halts {
            html += "<div class=\"halt\">HALT \(escape(halt.description))</div>\n"
        }
        if rollouts.isEmpty {
            html += "<p class=\"muted\">no rollouts yet</p>\n"
        } else {
            html += "<table>\n<tr><th>rollout</th><th>fleet / change</th><th>state</th><th>phases</th></tr>\n"
            for rollout in rollouts {
                var kind = ""
                if rollout.kind != .rollout {
                    let parent = rollout.parentID.map { " of \(escape($0))" } ?? ""
                    kind = "<br><span class=\"muted\">\(escape(rollout.kind.rawValue))\(parent)</span>"
                }
                html += "<tr><td>\(escape(rollout.id))\(kind)</td>"
                html += "<td>\(escape(rollout.fleet)) / \(escape(rollout.change))</td>"
                var state = escape(rollout.state.rawValue)
                if let reason = rollout.reason { state += "<br><span class=\"muted\">\(escape(reason))</span>" }
                html += "<td class=\"state\">\(state)</td>"
                html += "<td>\(phases(steps[rollout.id] ?? [], current: rollout.currentPhase))</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<p class=\"muted\">updated \(escape(ISO8601DateFormatter().string(from: now)))</p>\n</body>\n</html>\n"
        return html
    }

    /// Per phase: a bar and `done/total`, with failed, quarantined and running counts when there are any.
    static func phases(_ steps: [ControlStore.StepRecord], current: String?) -> String {
        var order: [String] = []
        for step in steps where !order.contains(step.phase) { order.append(step.phase) }
        guard !order.isEmpty else { return "<span class=\"muted\">—</span>" }
        return order.map { phase in
            let members = steps.filter { $0.phase == phase }
            var counts: [StepState: Int] = [:]
            for step in members { counts[step.state, default: 0] += 1 }
            let done = counts[.applied, default: 0]
            let percent = members.isEmpty ? 0 : done * 100 / members.count
            var extra = [StepState.running, .failed, .quarantined, .reverted].compactMap { state in
                counts[state].map { "\($0) \(state.rawValue)" }
            }
            if phase == current { extra.insert("current", at: 0) }
            let note = extra.isEmpty ? "" : " <span class=\"muted\">(\(escape(extra.joined(separator: ", "))))</span>"
            return
                "\(escape(phase)) <span class=\"bar\"><span style=\"width:\(percent)%\"></span></span> \(done)/\(members.count)\(note)"
        }.joined(separator: "<br>")
    }

    /// Text made safe for HTML element content and quoted attribute values; control characters are shown as `\xHH`,
    /// as in the terminal.
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in terminalSafe(text) {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }
}
