import FlotillaModel
import Foundation

/// One measurement of one health check on one target, and what it says.
public struct CheckMeasurement: Sendable, Hashable, Codable {
    /// What a single measurement says.
    public enum Verdict: String, Sendable, Hashable, Codable, CaseIterable {
        /// The target is healthy.
        case pass
        /// The target is unhealthy.
        case fail
        /// The check itself broke: a timeout, a refused connection, a program that could not start or was killed.
        case error
        /// No data (no row, NULL, a missing JSON field): neither healthy nor unhealthy.
        case inconclusive
    }

    public var check: String
    /// `sql`, `http`, `command` or `prometheus`.
    public var kind: String
    /// `tenant`, `wave` or `preflight`.
    public var scope: String
    /// What was measured: a tenant id, a shard name, or `wave` for a check run once for the whole wave.
    public var target: String
    public var tenant: String?
    public var shard: String?
    public var verdict: Verdict
    /// What the check returned (a value, an HTTP status, an exit status), when it returned something.
    public var value: String?
    /// Why the verdict, in words.
    public var detail: String
    public var milliseconds: Int
    public var at: Date
    /// For `compare: cohort`: `changed` or `baseline` on a tenant's reading, `compared` on the round's verdict.
    public var cohort: String?
    /// On a `compared` measurement: the baseline cohort's value (`value` holds the changed cohort's).
    public var baseline: String?

    public init(
        check: String, kind: String, scope: String, target: String, tenant: String? = nil, shard: String? = nil,
        verdict: Verdict, value: String? = nil, detail: String, milliseconds: Int, at: Date
    ) {
        self.check = check
        self.kind = kind
        self.scope = scope
        self.target = target
        self.tenant = tenant
        self.shard = shard
        self.verdict = verdict
        self.value = value
        self.detail = detail
        self.milliseconds = milliseconds
        self.at = at
    }

    /// `12:00:01.234 p01 fail: returned false (3 ms)`.
    public var summary: String {
        "\(Self.clockText(at)) \(target) \(verdict.rawValue): \(detail) (\(milliseconds) ms)"
    }

    static func clockText(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let parts = calendar.dateComponents([.hour, .minute, .second, .nanosecond], from: date)
        let milliseconds = (parts.nanosecond ?? 0) / 1_000_000
        return String(
            format: "%02d:%02d:%02d.%03d", parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, milliseconds)
    }
}

/// What a check measures: one tenant, one shard, or the wave as a whole.
struct CheckTarget: Sendable, Hashable {
    var tenant: Tenant?
    var shard: String?
    /// The wave's tenants (for a check run once per shard or once per wave).
    var members: [Tenant]

    var key: String { tenant?.id ?? shard ?? "wave" }

    /// The targets of `check` over a wave's tenants: every tenant for `sql` checks, for `scope: tenant`, and for
    /// probes that name `{tenant}`; every shard for probes that name `{shard}`; else the wave once.
    static func targets(of check: Check, tenants: [Tenant]) -> [CheckTarget] {
        let text: String
        switch check.kind {
        case .sql:
            return tenants.map { CheckTarget(tenant: $0, shard: $0.shard, members: [$0]) }
        case .http(let probe): text = probe.url
        case .command(let argv): text = argv.joined(separator: " ")
        case .prometheus(let query): text = query.query
        }
        if check.scope == .tenant || text.contains("{tenant}") {
            return tenants.map { CheckTarget(tenant: $0, shard: $0.shard, members: [$0]) }
        }
        if text.contains("{shard}") {
            var shards: [String] = []
            for tenant in tenants where !shards.contains(tenant.shard) { shards.append(tenant.shard) }
            return shards.map { shard in
                CheckTarget(tenant: nil, shard: shard, members: tenants.filter { $0.shard == shard })
            }
        }
        return [CheckTarget(tenant: nil, shard: nil, members: tenants)]
    }
}

extension Check.Kind {
    /// `sql`, `http` or `command`.
    var name: String {
        switch self {
        case .sql: return "sql"
        case .http: return "http"
        case .command: return "command"
        case .prometheus: return "prometheus"
        }
    }
}
