import FlotillaLint

/// How a change is rolled out: waves, caps, timeouts, checks, budgets and what to do on failure.
/// Read from `policies/<name>.yaml`.
public struct Policy: Sendable, Hashable {
    public enum OnFailure: String, Sendable, Hashable, CaseIterable {
        case revert, halt, quarantine
    }

    public enum OnInconclusive: String, Sendable, Hashable, CaseIterable {
        case pause, halt
        case `continue`
    }

    public var name: String
    public var description: String?
    public var waves: [Wave]
    public var parallel: Int
    public var perShardParallel: Int
    public var lockTimeout: Duration
    public var statementTimeout: Duration
    /// How long opening a tenant's session may take, and how long a server may stay unreachable (refusing, restarting)
    /// before its tenants' steps fail: a restart within it costs a retry, a server down longer fails the tenants.
    public var connectTimeout: Duration = .seconds(5)
    /// `risk: {rows_medium, rows_high}`: from how many rows a rewrite or scan is at least medium, and high, when lint
    /// and the risk gate judge a change on a tenant's live schema.
    public var risk = RiskThresholds()
    public var retries: Retries
    public var failureBudget: FailureBudget
    public var checks: [Check]
    public var onFailure: OnFailure
    public var onInconclusive: OnInconclusive
    /// Shuffles the fleet's order, deterministically, before percent and count take tenants.
    public var seed: UInt64?
    /// Per-shard health signals that pause new steps on a shard, or halt the rollout (`throttle:`).
    public var throttle: Throttle? = nil
    /// Webhooks told of the rollout's turning points (`notify:`), beside the fleet's.
    public var notify: [Notify] = []
    public var file: String
    public var location: SourceLocation

    public init(
        name: String, description: String? = nil, waves: [Wave], parallel: Int = 16, perShardParallel: Int = 4,
        lockTimeout: Duration = .seconds(2), statementTimeout: Duration = .seconds(600), retries: Retries = Retries(),
        failureBudget: FailureBudget = FailureBudget(), checks: [Check] = [], onFailure: OnFailure = .revert,
        onInconclusive: OnInconclusive = .pause, seed: UInt64? = nil, file: String = "",
        location: SourceLocation? = nil
    ) {
        self.name = name
        self.description = description
        self.waves = waves
        self.parallel = parallel
        self.perShardParallel = perShardParallel
        self.lockTimeout = lockTimeout
        self.statementTimeout = statementTimeout
        self.retries = retries
        self.failureBudget = failureBudget
        self.checks = checks
        self.onFailure = onFailure
        self.onInconclusive = onInconclusive
        self.seed = seed
        self.file = file
        self.location = location ?? SourceLocation(file: file, line: 1, column: 1)
    }
}

public struct Retries: Sendable, Hashable {
    /// Tries in all, the first included.
    public var attempts: Int
    public var backoff: Duration

    public init(attempts: Int = 3, backoff: Duration = .seconds(1)) {
        self.attempts = attempts
        self.backoff = backoff
    }
}

/// A number of tenants, or a share of them.
public enum Budget: Sendable, Hashable, CustomStringConvertible {
    case count(Int)
    case percent(Double)

    /// How many failed tenants are allowed out of `total`.
    public func allowed(of total: Int) -> Int {
        switch self {
        case .count(let count): return count
        case .percent(let percent): return Int((Double(total) * percent / 100).rounded(.down))
        }
    }

    public var description: String {
        switch self {
        case .count(let count): return "\(count)"
        case .percent(let percent):
            return percent == percent.rounded() ? "\(Int(percent))%" : "\(percent)%"
        }
    }
}

public struct FailureBudget: Sendable, Hashable {
    public var perWave: Budget
    public var total: Budget

    public init(perWave: Budget = .count(0), total: Budget = .count(0)) {
        self.perWave = perWave
        self.total = total
    }
}

/// A slice of the fleet, and how long to watch it afterwards.
public struct Wave: Sendable, Hashable {
    public enum Grouping: String, Sendable, Hashable, CaseIterable {
        case shard
    }

    public var name: String
    public var select: Selector
    /// `by: shard` runs the wave's tenants one shard after another.
    public var by: Grouping?
    public var bake: Duration
    public var location: SourceLocation

    public init(name: String, select: Selector, by: Grouping? = nil, bake: Duration = .zero, location: SourceLocation) {
        self.name = name
        self.select = select
        self.by = by
        self.bake = bake
        self.location = location
    }
}

/// Which tenants a wave takes. Filters (`tenants`, `labels`, `shards`) narrow the candidates; `percent` and
/// `count` cap how many of them; `remaining` takes every candidate not taken by an earlier wave.
public struct Selector: Sendable, Hashable {
    public var tenants: [String]?
    public var labels: [String: String]?
    public var shards: [String]?
    /// Of the whole fleet, rounded up, at least one.
    public var percent: Double?
    public var count: Int?
    public var remaining: Bool

    public init(
        tenants: [String]? = nil, labels: [String: String]? = nil, shards: [String]? = nil, percent: Double? = nil,
        count: Int? = nil, remaining: Bool = false
    ) {
        self.tenants = tenants
        self.labels = labels
        self.shards = shards
        self.percent = percent
        self.count = count
        self.remaining = remaining
    }
}

/// A health check run while a wave bakes (or before it starts).
public struct Check: Sendable, Hashable {
    public enum Scope: String, Sendable, Hashable, CaseIterable {
        case tenant, wave, preflight
    }

    public enum Kind: Sendable, Hashable {
        /// Passes when the first column of the first row is true, or a number within `min`…`max`.
        case sql(String, min: Double?, max: Double?)
        case http(HTTPProbe)
        /// Exit 0 passes.
        case command([String])
        /// A PromQL instant query; each element of the result within `min`…`max` passes.
        case prometheus(PrometheusQuery)
    }

    public var name: String
    public var kind: Kind
    public var scope: Scope
    public var interval: Duration
    public var timeout: Duration
    /// Failures beyond this many fail the check.
    public var failureLimit: Int
    /// Consecutive errors beyond this many fail the check.
    public var consecutiveErrorLimit: Int
    /// `compare: cohort`: judged by comparing the wave's tenants with tenants not yet changed.
    public var compare: CohortComparison?
    public var location: SourceLocation

    public init(
        name: String, kind: Kind, scope: Scope, interval: Duration = .seconds(5), timeout: Duration = .seconds(10),
        failureLimit: Int = 0, consecutiveErrorLimit: Int = 2, location: SourceLocation
    ) {
        self.name = name
        self.kind = kind
        self.scope = scope
        self.interval = interval
        self.timeout = timeout
        self.failureLimit = failureLimit
        self.consecutiveErrorLimit = consecutiveErrorLimit
        self.location = location
    }

    /// Whether a higher value is worse: true unless the check gives `min:` and no `max:`.
    public var higherIsWorse: Bool {
        switch kind {
        case .sql(_, let min, let max): return !(min != nil && max == nil)
        case .prometheus(let query): return !(query.min != nil && query.max == nil)
        case .http, .command: return true
        }
    }
}

/// A `prometheus:` check: an instant query against a Prometheus server's HTTP API.
public struct PrometheusQuery: Sendable, Hashable {
    /// The server's base URL (`http://prometheus:9090`); the check asks `<url>/api/v1/query`.
    public var url: String
    /// PromQL; `{tenant}` `{shard}` `{wave}` `{phase}` `{rollout}` are filled in, escaped for a string literal.
    public var query: String
    public var min: Double?
    public var max: Double?

    public init(url: String, query: String, min: Double? = nil, max: Double? = nil) {
        self.url = url
        self.query = query
        self.min = min
        self.max = max
    }
}

/// `compare: cohort`: the wave's tenants (changed) against tenants on the same shards not changed yet (baseline).
public struct CohortComparison: Sendable, Hashable {
    public enum Regression: Sendable, Hashable, CustomStringConvertible {
        /// `"20%"`: the changed median may be worse than the baseline median by at most this share of it.
        case ratio(Double)
        /// `5`: by at most this amount.
        case absolute(Double)

        public var description: String {
            switch self {
            case .ratio(let ratio):
                let percent = ratio * 100
                return percent == percent.rounded() ? "\(Int(percent))%" : "\(percent)%"
            case .absolute(let amount):
                return amount == amount.rounded() && abs(amount) < 1e15 ? "\(Int64(amount))" : "\(amount)"
            }
        }
    }

    public var maxRegression: Regression
    /// Measurements needed on each side for a verdict; fewer is inconclusive.
    public var minSamples: Int

    public init(maxRegression: Regression = .ratio(0.2), minSamples: Int = 1) {
        self.maxRegression = maxRegression
        self.minSamples = minSamples
    }
}

public struct HTTPProbe: Sendable, Hashable {
    public var url: String
    public var status: Int
    public var maxLatency: Duration?
    public var bodyContains: String?
    /// A dotted path into a JSON body, and the value it must have.
    public var jsonField: String?
    public var jsonEquals: String?

    public init(
        url: String, status: Int = 200, maxLatency: Duration? = nil, bodyContains: String? = nil,
        jsonField: String? = nil, jsonEquals: String? = nil
    ) {
        self.url = url
        self.status = status
        self.maxLatency = maxLatency
        self.bodyContains = bodyContains
        self.jsonField = jsonField
        self.jsonEquals = jsonEquals
    }
}
