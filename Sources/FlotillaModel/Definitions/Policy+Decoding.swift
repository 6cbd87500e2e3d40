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
        "min", "max", "prometheus", "compare", "max_regression", "min_samples",
    ]
    static let prometheusKeys = ["url", "query", "min", "max"]
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

    /// The warnings of a policy that parses (`parse` throws on errors and keeps warnings to itself): `validate`
    /// prints them.
    public static func warnings(_ text: String, file: String) -> [Diagnostic] {
        let reader = DefinitionReader(file: file)
        guard let root = try? YAMLNode.parse(text, file: file) else { return [] }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        _ = decode(root, reader: reader, lines: lines)
        return reader.diagnostics.warnings
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
        let kinds = ["sql", "http", "command", "prometheus"].filter(check.has)
        guard kinds.count == 1 else {
            reader.error(
                node, path,
                kinds.isEmpty
                    ? "check '\(name)' needs one of sql, http, command or prometheus"
                    : "check '\(name)' has \(kinds.joined(separator: " and ")); a check has exactly one of sql, http, command or prometheus"
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
        case "prometheus":
            kind = decodePrometheus(check, reader: reader)
        default:
            if let argv = check.stringList("command", what: "program and arguments"), !argv.isEmpty {
                kind = .command(argv)
            }
        }
        if kinds[0] != "sql", check.has("min") || check.has("max") {
            reader.error(node, path, "min and max apply to sql checks only")
        }
        let scope = check.oneOf("scope", Check.Scope.self)
        let compare = decodeCohort(check, node: node, path: path, name: name, kind: kind, scope: scope, reader: reader)
        guard let kind else { return nil }
        if case .prometheus(let query) = kind, query.min == nil, query.max == nil, compare == nil,
            check.node("prometheus")?.scalar == nil
        {
            reader.error(
                node, check.at("prometheus"),
                "check '\(name)': a prometheus check needs min or max (or both) to judge the values, or compare: cohort"
            )
        }
        let defaultScope: Check.Scope = if case .sql = kind { .tenant } else { .wave }
        var result = Check(
            name: name, kind: kind, scope: scope ?? defaultScope,
            interval: check.duration("interval") ?? .seconds(5), timeout: check.duration("timeout") ?? .seconds(10),
            failureLimit: check.int("failure_limit", min: 0) ?? 0,
            consecutiveErrorLimit: check.int("consecutive_error_limit", min: 0) ?? 2, location: node.location)
        result.compare = compare
        return result
    }

    /// `prometheus: {url, query, min?, max?}`.
    static func decodePrometheus(_ check: ObjectReader, reader: DefinitionReader) -> Check.Kind? {
        guard
            let spec = check.object(
                "prometheus", what: "a prometheus query", keys: prometheusKeys, required: ["url", "query"]),
            let url = spec.string("url"), let query = spec.string("query")
        else { return nil }
        if !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            reader.error(
                at: spec.location("url"), spec.at("url"), "expected an http:// or https:// URL, found '\(url)'")
        }
        func number(_ key: String) -> Double? {
            guard let node = spec.node(key) else { return nil }
            if let text = node.scalar, let value = Double(text), value.isFinite { return value }
            reader.error(node, spec.at(key), "expected a number, found \(node.kindName)")
            return nil
        }
        let min = number("min")
        let max = number("max")
        if let min, let max, min > max {
            reader.error(at: spec.location("min"), spec.at("min"), "min \(min) is above max \(max)")
        }
        return .prometheus(PrometheusQuery(url: url, query: query, min: min, max: max))
    }

    /// `compare: cohort` with `max_regression` (`"20%"` or an amount) and `min_samples`; only for checks measured per
    /// tenant (sql, or prometheus with scope tenant or a query naming `{tenant}`).
    static func decodeCohort(
        _ check: ObjectReader, node: YAMLNode, path: String, name: String, kind: Check.Kind?, scope: Check.Scope?,
        reader: DefinitionReader
    ) -> CohortComparison? {
        guard let compareNode = check.node("compare") else {
            for key in ["max_regression", "min_samples"] {
                if let keyNode = check.node(key) {
                    reader.warning(keyNode, check.at(key), "\(key) has no effect without compare: cohort")
                }
            }
            return nil
        }
        guard compareNode.scalar == "cohort", !compareNode.isNull else {
            reader.error(
                compareNode, check.at("compare"), "expected cohort, found \(compareNode.scalar ?? compareNode.kindName)"
            )
            return nil
        }
        if scope == .preflight {
            reader.error(
                at: check.location("compare"), check.at("compare"),
                "check '\(name)': compare: cohort needs a wave that has changed; it cannot run at preflight")
        }
        switch kind {
        case .sql: break
        case .prometheus(let query):
            if scope != .tenant, !query.query.contains("{tenant}") {
                reader.error(
                    at: check.location("compare"), check.at("compare"),
                    "check '\(name)': compare: cohort compares tenants; give scope: tenant or name {tenant} in the query"
                )
            }
        case .http, .command:
            reader.error(
                at: check.location("compare"), check.at("compare"),
                "check '\(name)': compare: cohort applies to sql and prometheus checks only")
        case nil: break
        }
        var comparison = CohortComparison()
        if let regression = check.node("max_regression") {
            var text = String((regression.scalar ?? "").filter { $0 != " " })
            let isPercent = text.hasSuffix("%")
            if isPercent { text.removeLast() }
            if let value = Double(text), value.isFinite, value >= 0, !regression.isNull {
                comparison.maxRegression = isPercent ? .ratio(value / 100) : .absolute(value)
            } else {
                reader.error(
                    regression, check.at("max_regression"),
                    "expected a percent like \"20%\" or an amount of at least 0, found \(regression.scalar ?? regression.kindName)"
                )
            }
        }
        comparison.minSamples = check.int("min_samples", min: 1) ?? comparison.minSamples
        return comparison
    }
}
