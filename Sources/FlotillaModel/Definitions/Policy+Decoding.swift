extension Policy {
    static let keys = [
        "policy", "description", "waves", "parallel", "per_shard_parallel", "lock_timeout", "statement_timeout",
        "connect_timeout", "risk",
        "retries", "failure_budget", "checks", "on_failure", "on_inconclusive", "seed", "throttle",
        "notify",
    ]
    static let waveKeys = ["name", "select", "by", "bake"]
    static let selectKeys = ["tenants", "labels", "shards", "shard", "percent", "count", "remaining"]
    static let checkKeys = [
        "name", "sql", "http", "command", "scope", "interval", "timeout", "failure_limit", "consecutive_error_limit",
        "min", "max",
    ]
    static let httpKeys = ["url", "status", "max_latency", "body_contains", "json_field", "equals"]

    /// Reads and checks a policy file.
    public static func parse(_ text: String, file: String) throws(DefinitionError) -> Policy {
        let reader = DefinitionReader(file: file)
        guard let root = try YAMLNode.parse(text, file: file) else {
            throw DefinitionError([
                Diagnostic(
                    at: SourceLocation(file: file, line: 1, column: 1),
                    "the file is empty; expected a policy definition")
            ])
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let policy = decode(root, reader: reader, lines: lines)
        try reader.diagnostics.check()
        return policy!
    }

    static func decode(_ root: YAMLNode, reader: DefinitionReader, lines: [String] = []) -> Policy? {
        guard let object = reader.object(root, "", what: "a policy", keys: keys, required: ["policy", "waves"])
        else { return nil }
        let name = object.string("policy") ?? ""
        if object.has("policy"), !name.isEmpty, let problem = nameProblem(name) {
            reader.error(at: object.location("policy"), "policy", "policy name '\(name)' \(problem)")
        }
        var waves: [Wave] = []
        for (index, node) in (object.list("waves", what: "waves") ?? []).enumerated() {
            if let wave = decodeWave(node, path: "waves[\(index)]", reader: reader) {
                if let previous = waves.first(where: { $0.name == wave.name }) {
                    reader.error(
                        node, "waves[\(index)].name",
                        "duplicate wave name '\(wave.name)' (first defined at line \(previous.location.line))")
                    continue
                }
                waves.append(wave)
            }
        }
        if object.has("waves"), waves.isEmpty, !reader.diagnostics.hasErrors {
            reader.error(at: object.location("waves"), "waves", "a policy needs at least one wave")
        }
        var retries = Retries()
        if let spec = object.object("retries", what: "retries", keys: ["attempts", "backoff"]) {
            retries.attempts = spec.int("attempts", min: 1, max: 100) ?? retries.attempts
            retries.backoff = spec.duration("backoff") ?? retries.backoff
        }
        var budget = FailureBudget()
        if let spec = object.object("failure_budget", what: "a failure budget", keys: ["per_wave", "total"]) {
            if let node = spec.node("per_wave"), let value = decodeBudget(node, spec.at("per_wave"), reader) {
                budget.perWave = value
            }
            if let node = spec.node("total"), let value = decodeBudget(node, spec.at("total"), reader) {
                budget.total = value
            }
        }
        var checks: [Check] = []
        for (index, node) in (object.list("checks", what: "health checks") ?? []).enumerated() {
            if let check = decodeCheck(node, path: "checks[\(index)]", reader: reader, lines: lines) {
                if checks.contains(where: { $0.name == check.name }) {
                    reader.error(node, "checks[\(index)].name", "duplicate check name '\(check.name)'")
                    continue
                }
                checks.append(check)
            }
        }
        var seed: UInt64?
        if let node = object.node("seed") {
            if let text = node.scalar, let value = UInt64(text) {
                seed = value
            } else {
                reader.error(node, "seed", "expected a whole number of at least 0, found \(node.kindName)")
            }
        }
        var policy = Policy(
            name: name, description: object.string("description"), waves: waves,
            parallel: object.int("parallel", min: 1, max: 10_000) ?? 16,
            perShardParallel: object.int("per_shard_parallel", min: 1, max: 10_000) ?? 4,
            lockTimeout: object.duration("lock_timeout") ?? .seconds(2),
            statementTimeout: object.duration("statement_timeout") ?? .seconds(600), retries: retries,
            failureBudget: budget, checks: checks, onFailure: object.oneOf("on_failure", OnFailure.self) ?? .revert,
            onInconclusive: object.oneOf("on_inconclusive", OnInconclusive.self) ?? .pause, seed: seed,
            file: reader.file, location: root.location)
        if let connectTimeout = object.duration("connect_timeout") { policy.connectTimeout = connectTimeout }
        if let risk = object.object("risk", what: "risk thresholds", keys: ["rows_medium", "rows_high"]) {
            policy.risk.rowsMedium = risk.int("rows_medium", min: 0) ?? policy.risk.rowsMedium
            policy.risk.rowsHigh = risk.int("rows_high", min: 0) ?? policy.risk.rowsHigh
            if risk.has("rows_high"), policy.risk.rowsHigh < policy.risk.rowsMedium, !reader.diagnostics.hasErrors {
                reader.error(
                    at: risk.location("rows_high"), risk.at("rows_high"),
                    "rows_high (\(policy.risk.rowsHigh)) must be at least rows_medium (\(policy.risk.rowsMedium))")
            }
        }
        if let node = object.node("throttle") {
            policy.throttle = Throttle.decode(node, path: "throttle", reader: reader, lines: lines)
        }
        if let node = object.node("notify") {
            policy.notify = Notify.decodeAll(node, path: "notify", reader: reader)
        }
        return policy
    }

    static func decodeWave(_ node: YAMLNode, path: String, reader: DefinitionReader) -> Wave? {
        guard let wave = reader.object(node, path, what: "a wave", keys: waveKeys, required: ["name", "select"]),
            let name = wave.string("name")
        else { return nil }
        if let problem = nameProblem(name) {
            reader.error(at: wave.location("name"), wave.at("name"), "wave name '\(name)' \(problem)")
        }
        let errorsBefore = reader.diagnostics.errors.count
        guard let select = wave.object("select", what: "a selector", keys: selectKeys) else { return nil }
        var selector = Selector()
        selector.tenants = select.has("tenants") ? select.stringList("tenants", what: "tenant ids") : nil
        selector.labels = select.has("labels") ? select.stringMap("labels", what: "labels") : nil
        if select.has("shards") { selector.shards = select.stringList("shards", what: "shard names") }
        if select.has("shard") { selector.shards = select.stringList("shard", what: "shard names") }
        if let node = select.node("percent") {
            var text = node.scalar ?? ""
            if text.hasSuffix("%") { text.removeLast() }
            if let value = Double(text), value.isFinite, !node.isNull {
                if value <= 0 || value > 100 {
                    reader.error(
                        node, select.at("percent"),
                        "expected a percent above 0 and at most 100, found \(node.scalar ?? "")")
                } else {
                    selector.percent = value
                }
            } else {
                reader.error(
                    node, select.at("percent"), "expected a percent above 0 and at most 100, found \(node.kindName)")
            }
        }
        selector.count = select.int("count", min: 1)
        selector.remaining = select.bool("remaining") ?? false
        if select.has("remaining"), selector.remaining == false, select.bool("remaining") == false {
            reader.error(
                at: select.location("remaining"), select.at("remaining"),
                "remaining: false selects nothing; leave it out or say true")
        }
        let hasSomething =
            selector.tenants != nil || selector.labels != nil || selector.shards != nil || selector.percent != nil
            || selector.count != nil || selector.remaining
        if !hasSomething, reader.diagnostics.errors.count == errorsBefore {
            reader.error(
                select.node, wave.at("select"),
                "empty selector: wave '\(name)' selects nobody; say tenants, labels, shards, percent, count or remaining: true"
            )
        }
        if selector.percent != nil, selector.count != nil {
            reader.error(
                at: select.location("count"), select.at("count"), "a wave takes either percent or count, not both")
        }
        return Wave(
            name: name, select: selector, by: wave.oneOf("by", Wave.Grouping.self),
            bake: wave.duration("bake") ?? .zero,
            location: node.location)
    }

    static func decodeBudget(_ node: YAMLNode, _ path: String, _ reader: DefinitionReader) -> Budget? {
        guard let text = node.scalar, !node.isNull else {
            reader.error(node, path, "expected a count or a percent like \"2%\", found \(node.kindName)")
            return nil
        }
        if text.hasSuffix("%"), let value = Double(text.dropLast()), value >= 0, value <= 100 { return .percent(value) }
        if let value = Int(text), value >= 0 { return .count(value) }
        reader.error(node, path, "expected a count or a percent like \"2%\", found '\(text)'")
        return nil
    }

    static func decodeCheck(_ node: YAMLNode, path: String, reader: DefinitionReader, lines: [String]) -> Check? {
        guard let check = reader.object(node, path, what: "a check", keys: checkKeys, required: ["name"]),
            let name = check.string("name")
        else { return nil }
        let kinds = ["sql", "http", "command"].filter(check.has)
        guard kinds.count == 1 else {
            reader.error(
                node, path,
                kinds.isEmpty
                    ? "check '\(name)' needs one of sql, http or command"
                    : "check '\(name)' has \(kinds.joined(separator: " and ")); a check has exactly one of sql, http or command"
            )
            return nil
        }
        var kind: Check.Kind?
        func number(_ key: String) -> Double? {
            guard let node = check.node(key) else { return nil }
            if let text = node.scalar, let value = Double(text) { return value }
            reader.error(node, check.at(key), "expected a number, found \(node.kindName)")
            return nil
        }
        switch kinds[0] {
        case "sql":
            // The engine runs it as a subquery (SELECT … FROM (sql) AS …): one statement, a trailing ';' stripped.
            if let sql = check.string("sql"), let sqlNode = check.node("sql"),
                reader.checkSQL(sql, in: sqlNode, check.at("sql"), key: "sql", shape: .query, lines: lines)
            {
                kind = .sql(sql, min: number("min"), max: number("max"))
            }
        case "http":
            if let spec = check.object("http", what: "an http probe", keys: httpKeys, required: ["url"]),
                let url = spec.string("url")
            {
                if !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
                    reader.error(
                        at: spec.location("url"), spec.at("url"), "expected an http:// or https:// URL, found '\(url)'")
                }
                kind = .http(
                    HTTPProbe(
                        url: url, status: spec.int("status", min: 100, max: 599) ?? 200,
                        maxLatency: spec.duration("max_latency"), bodyContains: spec.string("body_contains"),
                        jsonField: spec.string("json_field"), jsonEquals: spec.string("equals", allowEmpty: true)))
            }
        default:
            if let argv = check.stringList("command", what: "program and arguments"), !argv.isEmpty {
                kind = .command(argv)
            }
        }
        if kinds[0] != "sql", check.has("min") || check.has("max") {
            reader.error(node, path, "min and max apply to sql checks only")
        }
        guard let kind else { return nil }
        let defaultScope: Check.Scope = if case .sql = kind { .tenant } else { .wave }
        return Check(
            name: name, kind: kind, scope: check.oneOf("scope", Check.Scope.self) ?? defaultScope,
            interval: check.duration("interval") ?? .seconds(5), timeout: check.duration("timeout") ?? .seconds(10),
            failureLimit: check.int("failure_limit", min: 0) ?? 0,
            consecutiveErrorLimit: check.int("consecutive_error_limit", min: 0) ?? 2, location: node.location)
    }
}
