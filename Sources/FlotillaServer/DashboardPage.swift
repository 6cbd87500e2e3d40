import FlotillaEngine
import Foundation

/// The dashboard's HTML, rendered on the server from what the control store holds: it reads without JavaScript, and
/// `/assets/dashboard.js` makes it live and adds the controls. No inline script or style (the Content-Security-Policy
/// forbids them); every value from the store goes through `HTML.escape`.
enum DashboardPage {
    /// What the rollout list shows.
    struct ListData: Sendable {
        var halts: [HaltRecord]
        var rollouts: [ControlStore.RolloutRecord]
        var progress: [String: RolloutProgress]
        var fleets: [String]
        var lastEventID: Int64
        var now: Date
    }

    /// What a rollout's page shows.
    struct RolloutData: Sendable {
        var rollout: ControlStore.RolloutRecord
        var halts: [HaltRecord]
        var steps: [ControlStore.StepRecord]
        var events: [JournalEvent]
        var verdicts: [ControlStore.CheckVerdictRecord]
        var measurements: [ControlStore.MeasurementRecord]
        /// Who acted on the rollout (and halted or resumed its fleet while it ran): the audit trail.
        var audit: [AuditEntry] = []
        var lastEventID: Int64
        var now: Date
    }

    // MARK: - Pages

    static func list(_ data: ListData) -> String {
        let body = """
            <header><h1><a href="/">Flotilla</a></h1><span id="live-status" class="muted">live updates need JavaScript</span></header>
            \(controls(fleet: nil, fleets: data.fleets, rollout: nil))
            <div id="live" data-fragment="/?fragment=live">\(listLive(data))</div>
            """
        return page(title: "Flotilla", body: body, attributes: ["data-after": "\(data.lastEventID)"])
    }

    static func rollout(_ data: RolloutData) -> String {
        let rollout = data.rollout
        let id = HTML.escape(rollout.id)
        let body = """
            <header><h1><a href="/">Flotilla</a> › rollout \(id)</h1><span id="live-status" class="muted">live updates need JavaScript</span></header>
            \(controls(fleet: rollout.fleet, fleets: [rollout.fleet], rollout: rollout.id))
            <div id="live" data-fragment="/rollouts/\(HTML.escape(percentEncoded(rollout.id)))?fragment=live">\(rolloutLive(data))</div>
            <aside id="detail" class="detail" hidden></aside>
            """
        return page(
            title: "Flotilla · \(rollout.id)", body: body,
            attributes: ["data-after": "\(data.lastEventID)", "data-rollout": rollout.id, "data-fleet": rollout.fleet])
    }

    static func page(title: String, body: String, attributes: [String: String]) -> String {
        let attributes = attributes.sorted { $0.key < $1.key }.map { " \($0.key)=\"\(HTML.escape($0.value))\"" }
            .joined()
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(title))</title>
            <link rel="stylesheet" href="/assets/dashboard.css">
            <script src="/assets/dashboard.js" defer></script>
            </head>
            <body\(attributes)>
            \(body)
            </body>
            </html>

            """
    }

    // MARK: - The live parts (re-fetched by the script when the journal moves)

    static func listLive(_ data: ListData) -> String {
        var html = halts(data.halts)
        if data.rollouts.isEmpty {
            html += "<p class=\"muted\">no rollouts yet</p>\n"
        } else {
            html += """
                <table class="rollouts">
                <thead><tr><th>rollout</th><th>state</th><th>progress</th><th>age</th><th>fleet</th><th>change</th></tr></thead>
                <tbody>

                """
            for rollout in data.rollouts {
                let progress = data.progress[rollout.id] ?? RolloutProgress()
                var kind = ""
                if rollout.kind != .rollout {
                    let parent = rollout.parentID.map { " of \(HTML.escape($0))" } ?? ""
                    kind = " <span class=\"muted\">\(HTML.escape(rollout.kind.rawValue))\(parent)</span>"
                }
                let reason =
                    rollout.reason.map {
                        let first = $0.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? $0
                        return
                            "<div class=\"muted\" title=\"\(HTML.escape($0, keepLineBreaks: true))\">\(HTML.escape(first))</div>"
                    } ?? ""
                html += "<tr data-rollout=\"\(HTML.escape(rollout.id))\">"
                html +=
                    "<td><a href=\"/rollouts/\(HTML.escape(percentEncoded(rollout.id)))\">\(HTML.escape(rollout.id))</a>\(kind)</td>"
                html +=
                    "<td><span class=\"state st-\(HTML.escape(rollout.state.rawValue))\">\(HTML.escape(rollout.state.rawValue))</span>\(reason)</td>"
                html += "<td>\(progressBar(progress))</td>"
                html +=
                    "<td title=\"\(HTML.escape(timestamp(rollout.createdAt)))\">\(HTML.escape(age(rollout.createdAt, now: data.now)))</td>"
                html += "<td>\(HTML.escape(rollout.fleet))</td><td>\(HTML.escape(rollout.change))</td></tr>\n"
            }
            html += "</tbody>\n</table>\n"
        }
        html += "<p class=\"muted\">as of \(HTML.escape(timestamp(data.now)))</p>\n"
        return html
    }

    static func rolloutLive(_ data: RolloutData) -> String {
        let rollout = data.rollout
        var html = halts(data.halts)
        var facts = [
            (
                "state",
                "<span class=\"state st-\(HTML.escape(rollout.state.rawValue))\">\(HTML.escape(rollout.state.rawValue))</span>"
            ),
            ("fleet", HTML.escape(rollout.fleet)), ("change", HTML.escape(rollout.change)),
            ("policy", HTML.escape(rollout.policy)),
        ]
        if rollout.kind != .rollout { facts.append(("kind", HTML.escape(rollout.kind.rawValue))) }
        if let parent = rollout.parentID { facts.append(("of", HTML.escape(parent))) }
        if let phase = rollout.currentPhase {
            facts.append(("at", HTML.escape(phase + (rollout.currentWave.map { " / \($0)" } ?? ""))))
        }
        facts.append(
            ("started", HTML.escape("\(age(rollout.createdAt, now: data.now)) (\(timestamp(rollout.createdAt)))")))
        if let reason = rollout.reason {
            facts.append(("reason", "<span class=\"pre\">\(HTML.escape(reason, keepLineBreaks: true))</span>"))
        }
        html += "<dl class=\"facts\" data-state=\"\(HTML.escape(rollout.state.rawValue))\">"
        html += facts.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }.joined()
        html += "</dl>\n"
        html += grid(data.steps, current: rollout.currentPhase)
        html += checks(data.verdicts, data.measurements)
        html += log(data.events)
        html += auditTrail(data.audit)
        html += "<p class=\"muted\">as of \(HTML.escape(timestamp(data.now)))</p>\n"
        return html
    }

    // MARK: - Pieces

    static func halts(_ halts: [HaltRecord]) -> String {
        halts.map { halt in
            "<div class=\"halt pre\" role=\"alert\" data-halt=\"\(halt.id)\">HALT — \(HTML.escape(halt.description, keepLineBreaks: true))"
                + (halt.revert ? " (revert)" : "") + "</div>\n"
        }.joined()
    }

    /// The HALT, Resume and Approve controls: hidden until the script shows them (they need it).
    static func controls(fleet: String?, fleets: [String], rollout: String?) -> String {
        var scopes = ""
        if let fleet {
            scopes +=
                "<label><input type=\"radio\" name=\"scope\" value=\"fleet\" data-fleet=\"\(HTML.escape(fleet))\" checked> this fleet (\(HTML.escape(fleet)))</label>"
        } else {
            for (index, name) in fleets.enumerated() {
                scopes +=
                    "<label><input type=\"radio\" name=\"scope\" value=\"fleet\" data-fleet=\"\(HTML.escape(name))\"\(index == 0 ? " checked" : "")> fleet \(HTML.escape(name))</label>"
            }
        }
        scopes +=
            "<label><input type=\"radio\" name=\"scope\" value=\"all\"\(fleets.isEmpty ? " checked" : "")> everything</label>"
        let approve =
            rollout.map {
                "<button type=\"button\" id=\"approve\" data-rollout=\"\(HTML.escape($0))\" hidden>Approve</button>"
            } ?? ""
        return """
            <section id="controls" class="controls" hidden>
            <form id="token-form" class="token">
            <label>API token <input type="password" id="token" autocomplete="off" placeholder="FLOTILLA_API_TOKEN"></label>
            <button type="submit" id="token-save">Use token</button>
            <span id="token-state" class="muted"></span>
            <button type="button" id="token-forget" hidden>Forget token</button>
            </form>
            <form id="act" class="act">
            <div class="scopes">\(scopes)</div>
            <label>Reason <input type="text" id="reason" placeholder="why (required to halt)" size="40"></label>
            <label>By <input type="text" id="by" placeholder="your name" size="12"></label>
            <button type="button" id="halt" class="halt-button">HALT</button>
            <button type="button" id="resume">Resume</button>
            \(approve)
            </form>
            <div id="answer" class="answer" role="status" aria-live="polite"></div>
            </section>
            """
    }

    static func progressBar(_ progress: RolloutProgress) -> String {
        var extra: [String] = []
        if progress.running > 0 { extra.append("\(progress.running) running") }
        if progress.failed > 0 { extra.append("\(progress.failed) failed") }
        if progress.quarantined > 0 { extra.append("\(progress.quarantined) quarantined") }
        if progress.reverted > 0 { extra.append("\(progress.reverted) reverted") }
        let note = extra.isEmpty ? "" : " <span class=\"muted\">(\(extra.joined(separator: ", ")))</span>"
        return
            "<progress value=\"\(progress.applied)\" max=\"\(max(progress.total, 1))\"></progress> <span class=\"count\">\(progress.applied)/\(progress.total)</span>\(note)"
    }

    /// Phases down, waves across; in each cell the wave's tenants, one square each, coloured by the step's state.
    static func grid(_ steps: [ControlStore.StepRecord], current: String?) -> String {
        guard !steps.isEmpty else { return "<p class=\"muted\">no steps yet</p>\n" }
        var phases: [String] = []
        var waves: [String] = []
        var cells: [String: [ControlStore.StepRecord]] = [:]
        for step in steps {
            if !phases.contains(step.phase) { phases.append(step.phase) }
            if !waves.contains(step.wave) { waves.append(step.wave) }
            cells[step.phase + "\u{0}" + step.wave, default: []].append(step)
        }
        var html = "<h2>Phases × waves</h2>\n<table class=\"grid\">\n<thead><tr><th>phase</th>"
        html += waves.map { "<th>\(HTML.escape($0))</th>" }.joined()
        html += "</tr></thead>\n<tbody>\n"
        for phase in phases {
            let marker = phase == current ? " class=\"current\"" : ""
            html += "<tr\(marker)><th>\(HTML.escape(phase))</th>"
            for wave in waves {
                let members = cells[phase + "\u{0}" + wave] ?? []
                guard !members.isEmpty else {
                    html += "<td class=\"empty\"></td>"
                    continue
                }
                let done = members.filter { $0.state == .applied }.count
                html += "<td><div class=\"cellhead\">\(done)/\(members.count)</div><div class=\"tenants\">"
                html += members.map(tenantCell).joined()
                html += "</div></td>"
            }
            html += "</tr>\n"
        }
        html += "</tbody>\n</table>\n"
        html += "<p class=\"legend\">"
        html += StepState.allCases.map { "<span class=\"t s-\($0.rawValue)\"></span> \($0.rawValue)" }.joined(
            separator: " ")
        html += "</p>\n"
        return html
    }

    static func tenantCell(_ step: ControlStore.StepRecord) -> String {
        var facts: [(String, String)] = [
            ("tenant", step.tenant), ("shard", step.shard), ("phase", step.phase), ("wave", step.wave),
            ("state", step.state.rawValue), ("attempts", "\(step.attempts)"),
        ]
        if let duration = step.durationMilliseconds { facts.append(("duration", "\(duration) ms")) }
        if let sqlState = step.sqlState { facts.append(("SQLSTATE", sqlState)) }
        if let error = step.error { facts.append(("error", error)) }
        let title = facts.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
        let data = facts.map { " data-\($0.0.lowercased())=\"\(HTML.escape($0.1))\"" }.joined()
        return
            "<span class=\"t s-\(step.state.rawValue)\" tabindex=\"0\" title=\"\(HTML.escape(title, keepLineBreaks: true))\"\(data)></span>"
    }

    static func checks(_ verdicts: [ControlStore.CheckVerdictRecord], _ measurements: [ControlStore.MeasurementRecord])
        -> String
    {
        var names: [String] = []
        for name in verdicts.map(\.check) + measurements.map(\.measurement.check) where !names.contains(name) {
            names.append(name)
        }
        guard !names.isEmpty else { return "" }
        var html = "<h2>Checks</h2>\n"
        for name in names {
            let mine = measurements.filter { $0.measurement.check == name }.sorted {
                $0.measurement.at < $1.measurement.at
            }
            html += "<section class=\"check\"><h3>\(HTML.escape(name))</h3>\n"
            html += DashboardChart.svg(mine.map(\.measurement))
            let waves = verdicts.filter { $0.check == name }
            if !waves.isEmpty {
                html += "<ul class=\"verdicts\">"
                for verdict in waves {
                    let reason = verdict.reason.map { ": \(HTML.escape($0))" } ?? ""
                    html +=
                        "<li><span class=\"v-\(HTML.escape(verdict.verdict))\">\(HTML.escape(verdict.verdict))</span> \(HTML.escape(verdict.phase)) / \(HTML.escape(verdict.wave)) (\(verdict.passes) pass, \(verdict.failures) fail, \(verdict.errors) error)\(reason)</li>"
                }
                html += "</ul>\n"
            }
            if let latest = mine.last?.measurement {
                html +=
                    "<p class=\"muted\">latest: \(HTML.escape(latest.verdict.rawValue)) — \(HTML.escape(latest.detail))</p>\n"
            }
            html += "</section>\n"
        }
        return html
    }

    /// The event log, newest first.
    static func log(_ events: [JournalEvent]) -> String {
        var html = "<h2>Events</h2>\n"
        guard !events.isEmpty else { return html + "<p class=\"muted\">no events yet</p>\n" }
        html +=
            "<div class=\"logwrap\"><table class=\"log\">\n<thead><tr><th>#</th><th>at</th><th>kind</th><th>where</th><th>message</th></tr></thead>\n<tbody>\n"
        for event in events.reversed() {
            let place = [event.phase, event.wave, event.tenant].compactMap { $0 }.joined(separator: " / ")
            html += "<tr class=\"k-\(HTML.escape(event.kind))\" data-event=\"\(event.id)\"><td>\(event.id)</td>"
            html += "<td>\(HTML.escape(clock(event.at)))</td><td>\(HTML.escape(event.kind))</td>"
            html +=
                "<td>\(HTML.escape(place))</td><td class=\"pre\">\(HTML.escape(event.message, keepLineBreaks: true))</td></tr>\n"
        }
        return html + "</tbody>\n</table></div>\n"
    }

    /// Who did what to the rollout and its fleet, oldest first: `flotilla audit` for this page.
    static func auditTrail(_ entries: [AuditEntry]) -> String {
        var html = "<h2>Audit</h2>\n"
        guard !entries.isEmpty else { return html + "<p class=\"muted\">nobody has acted on it yet</p>\n" }
        html +=
            "<div class=\"logwrap\"><table class=\"log audit\">\n<thead><tr><th>at</th><th>action</th><th>by</th><th>via</th><th>host</th><th>detail</th></tr></thead>\n<tbody>\n"
        for entry in entries {
            html += "<tr class=\"a-\(HTML.escape(entry.action.rawValue))\" data-audit=\"\(entry.id)\">"
            html += "<td>\(HTML.escape(timestamp(entry.at)))</td><td>\(HTML.escape(entry.action.rawValue))</td>"
            html += "<td>\(HTML.escape(entry.actor))</td><td>\(HTML.escape(entry.via.rawValue))</td>"
            html += "<td>\(HTML.escape(entry.host))</td><td class=\"pre\">\(HTML.escape(entry.detail))</td></tr>\n"
        }
        return html + "</tbody>\n</table></div>\n"
    }

    // MARK: - Words

    static func age(_ date: Date, now: Date) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<60: return "\(seconds)s ago"
        case ..<3600: return "\(seconds / 60)m ago"
        case ..<86400: return "\(seconds / 3600)h \(seconds % 3600 / 60)m ago"
        default: return "\(seconds / 86400)d ago"
        }
    }

    static func timestamp(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    static func clock(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withTime, .withColonSeparatorInTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// A rollout id as one path segment.
    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Escaping for HTML text and quoted attribute values.
enum HTML {
    /// Text made safe for HTML element content and quoted attribute values; control characters are shown as `\xHH`,
    /// as in the terminal (line breaks too, unless `keepLineBreaks`, for a `title`).
    static func escape(_ text: String, keepLineBreaks: Bool = false) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        let lines =
            keepLineBreaks ? text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) : [text]
        for (index, line) in lines.enumerated() {
            if index > 0 { result += "&#10;" }
            for character in terminalSafe(line) {
                switch character {
                case "&": result += "&amp;"
                case "<": result += "&lt;"
                case ">": result += "&gt;"
                case "\"": result += "&quot;"
                case "'": result += "&#39;"
                default: result.append(character)
                }
            }
        }
        return result
    }
}
