extension Throttle {
    static let keys = ["interval", "on_unknown", "max_deferrals", "signals"]
    static let signalKeys = ["signal", "sql", "name", "pause_above", "halt_above", "replica"]

    /// Reads `throttle:` of a policy; problems go to the reader's diagnostics.
    static func decode(_ node: YAMLNode, path: String, reader: DefinitionReader, lines: [String]) -> Throttle? {
        guard let object = reader.object(node, path, what: "a throttle", keys: keys, required: ["signals"]) else {
            return nil
        }
        var throttle = Throttle(signals: [], location: node.location)
        if let interval = object.duration("interval") {
            if interval < .milliseconds(100) {
                reader.error(
                    at: object.location("interval"), object.at("interval"),
                    "expected an interval of at least 100ms, found '\(interval.flotillaDescription)'")
            } else {
                throttle.interval = interval
            }
        }
        throttle.onUnknown = object.oneOf("on_unknown", OnUnknown.self) ?? .pause
        throttle.maxDeferrals = object.int("max_deferrals", min: 0, max: 1000) ?? 10
        var names: [String: SourceLocation] = [:]
        for (index, item) in (object.list("signals", what: "throttle signals") ?? []).enumerated() {
            let itemPath = "\(object.at("signals"))[\(index)]"
            guard let signal = decodeSignal(item, path: itemPath, reader: reader, lines: lines) else { continue }
            if let first = names[signal.name] {
                reader.error(
                    item, itemPath,
                    "duplicate throttle signal '\(signal.name)' (first at line \(first.line)); give a sql signal its own name"
                )
                continue
            }
            names[signal.name] = signal.location
            throttle.signals.append(signal)
        }
        if object.has("signals"), throttle.signals.isEmpty, !reader.diagnostics.hasErrors {
            reader.error(at: object.location("signals"), object.at("signals"), "a throttle needs at least one signal")
        }
        return throttle
    }

    static func decodeSignal(_ node: YAMLNode, path: String, reader: DefinitionReader, lines: [String])
        -> ThrottleSignal?
    {
        guard let object = reader.object(node, path, what: "a throttle signal", keys: signalKeys) else { return nil }
        let errorsBefore = reader.diagnostics.errors.count
        let source: ThrottleSignal.Source
        switch (object.has("signal"), object.has("sql")) {
        case (true, false):
            guard let kind = object.oneOf("signal", ThrottleSignal.Kind.self) else { return nil }
            if object.has("name") {
                reader.error(
                    at: object.location("name"), object.at("name"),
                    "name applies to sql signals only; '\(kind.rawValue)' is named after itself")
            }
            source = .builtIn(kind)
        case (false, true):
            guard let sql = object.string("sql"), let sqlNode = object.node("sql"),
                reader.checkSQL(sql, in: sqlNode, object.at("sql"), key: "sql", shape: .query, lines: lines)
            else { return nil }
            guard let name = object.string("name") else {
                reader.error(node, object.at("name"), "a sql signal needs a name (shown in status, events and metrics)")
                return nil
            }
            if let problem = nameProblem(name) {
                reader.error(at: object.location("name"), object.at("name"), "signal name '\(name)' \(problem)")
            }
            if ThrottleSignal.Kind(rawValue: name) != nil {
                reader.error(
                    at: object.location("name"), object.at("name"),
                    "signal name '\(name)' is a built-in signal's; choose another name")
            }
            source = .sql(name: name, query: sql)
        case (true, true):
            reader.error(node, path, "a throttle signal has either signal or sql, not both")
            return nil
        case (false, false):
            reader.error(
                node, path,
                "a throttle signal needs signal (one of: \(ThrottleSignal.Kind.allCases.map(\.rawValue).joined(separator: ", "))) or sql"
            )
            return nil
        }
        var signal = ThrottleSignal(source: source, pauseAbove: 0, location: node.location)
        guard let pauseNode = object.node("pause_above") else {
            reader.error(node, object.at("pause_above"), "missing required key 'pause_above' in a throttle signal")
            return nil
        }
        guard let pause = threshold(pauseNode, object.at("pause_above"), unit: signal.unit, reader: reader) else {
            return nil
        }
        signal.pauseAbove = pause
        if let haltNode = object.node("halt_above") {
            if let halt = threshold(haltNode, object.at("halt_above"), unit: signal.unit, reader: reader) {
                if halt < pause {
                    reader.error(
                        haltNode, object.at("halt_above"),
                        "halt_above (\(signal.format(halt))) is below pause_above (\(signal.format(pause))); the rollout would halt before it pauses"
                    )
                }
                signal.haltAbove = halt
            }
        }
        if object.has("replica") {
            if source != .builtIn(.replicationLag) {
                reader.error(
                    at: object.location("replica"), object.at("replica"), "replica applies to replication_lag only")
            } else if let url = object.string("replica") {
                if !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) {
                    reader.error(
                        at: object.location("replica"), object.at("replica"),
                        "expected a postgres:// URL of a replica, found '\(redactedURL(url))'")
                }
                signal.replica = url
            }
        }
        return reader.diagnostics.errors.count == errorsBefore ? signal : nil
    }

    /// A threshold in the signal's unit: a duration (`5s`) for seconds, a share (`0.8` or `"80%"`) for
    /// active_sessions, a number of at least 0 otherwise.
    static func threshold(_ node: YAMLNode, _ path: String, unit: ThrottleSignal.Unit, reader: DefinitionReader)
        -> Double?
    {
        guard let text = node.scalar, !node.isNull else {
            reader.error(node, path, "expected \(expected(unit)), found \(node.kindName)")
            return nil
        }
        switch unit {
        case .seconds:
            if let duration = parseDuration(text) { return Double(duration.milliseconds) / 1000 }
        case .share:
            if text.hasSuffix("%"), let percent = Double(text.dropLast()), percent >= 0, percent <= 100 {
                return percent / 100
            }
            if let share = Double(text), share >= 0, share <= 1 { return share }
        case .count:
            if let value = Double(text), value.isFinite, value >= 0 { return value }
        }
        reader.error(node, path, "expected \(expected(unit)), found '\(text)'")
        return nil
    }

    static func expected(_ unit: ThrottleSignal.Unit) -> String {
        switch unit {
        case .seconds: return "a duration like 500ms, 5s or 1m"
        case .share: return "a share from 0 to 1, or a percent like \"80%\""
        case .count: return "a number of at least 0"
        }
    }
}
