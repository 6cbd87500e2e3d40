extension Notify {
    static let keys = ["url", "events", "format", "secret_env", "attempts", "backoff", "timeout"]

    /// Reads `notify:`: one webhook (a mapping) or a list of them. Problems go to the reader's diagnostics.
    static func decodeAll(_ node: YAMLNode, path: String, reader: DefinitionReader) -> [Notify] {
        if case .sequence(let items) = node.value {
            return items.enumerated().compactMap { index, item in
                decode(item, path: "\(path)[\(index)]", reader: reader)
            }
        }
        return decode(node, path: path, reader: reader).map { [$0] } ?? []
    }

    static func decode(_ node: YAMLNode, path: String, reader: DefinitionReader) -> Notify? {
        guard let object = reader.object(node, path, what: "a webhook", keys: keys, required: ["url"]) else {
            return nil
        }
        let errorsBefore = reader.diagnostics.errors.count
        guard let url = object.string("url") else { return nil }
        if !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            reader.error(
                at: object.location("url"), object.at("url"), "expected an http:// or https:// URL, found '\(url)'")
        }
        var notify = Notify(url: url, location: node.location)
        if let eventsNode = object.node("events") {
            var items: [YAMLNode] = []
            switch eventsNode.value {
            case .scalar: items = [eventsNode]
            case .sequence(let list): items = list
            case .mapping:
                reader.error(eventsNode, object.at("events"), "expected a list of events, found a mapping")
            }
            var events: Set<Event> = []
            for (index, item) in items.enumerated() {
                if let event = reader.oneOf(item, "\(object.at("events"))[\(index)]", Event.self) {
                    events.insert(event)
                }
            }
            if case .sequence = eventsNode.value, items.isEmpty {
                reader.error(
                    eventsNode, object.at("events"),
                    "a webhook with no events hears nothing; leave events out for every one, or name some")
            }
            notify.events = events
        }
        notify.format = object.oneOf("format", Format.self) ?? .json
        if let name = object.string("secret_env") {
            if !isEnvironmentName(name) {
                reader.error(
                    at: object.location("secret_env"), object.at("secret_env"),
                    "expected the name of an environment variable (letters, digits, _), found '\(name)'")
            }
            notify.secretEnv = name
        }
        notify.attempts = object.int("attempts", min: 1, max: 100) ?? notify.attempts
        notify.backoff = object.duration("backoff") ?? notify.backoff
        if let timeout = object.duration("timeout") {
            if timeout <= .zero {
                reader.error(
                    at: object.location("timeout"), object.at("timeout"), "expected a timeout above 0")
            }
            notify.timeout = timeout
        }
        return reader.diagnostics.errors.count == errorsBefore ? notify : nil
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`.
    static func isEnvironmentName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, !(0x30...0x39).contains(first) else { return false }
        return bytes.allSatisfy { byte in
            byte == 0x5F || (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
        }
    }
}

extension DefinitionSchema {
    /// `notify:` of a policy or a fleet: one webhook or a list of them.
    static var notify: JSONValue {
        let webhook = object(
            [
                "url": str("http:// or https:// URL the notification is POSTed to"),
                "events": .object([
                    "type": .string("array"),
                    "items": .object(["enum": .array(Notify.Event.allCases.map { .string($0.rawValue) })]),
                    "description": .string("turning points sent (default: every one)"),
                ]),
                "format": enumeration(Notify.Format.allCases.map(\.rawValue), "json (default) or slack ({\"text\"})"),
                "secret_env": str(
                    "environment variable holding the HMAC-SHA256 key; signs each request in X-Flotilla-Signature"),
                "attempts": int("tries in all (default 5)", minimum: 1),
                "backoff": duration("wait before the second try, doubled after (default 1s)"),
                "timeout": duration("how long one try may take (default 10s)"),
            ], required: ["url"])
        return .object([
            "oneOf": .array([webhook, array(webhook, "webhooks")]),
            "description": .string("webhooks told of the rollout's turning points"),
        ])
    }
}
