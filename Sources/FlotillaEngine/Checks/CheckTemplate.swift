import FlotillaModel
import Foundation

/// The values a probe's URL and a command's arguments are templated with: `{tenant}`, `{shard}`, `{wave}`,
/// `{phase}`, `{rollout}`. A check run once per shard has no tenant; one run once per wave has neither (empty).
struct CheckTemplate: Sendable, Hashable {
    var tenant: String
    var shard: String
    var wave: String
    var phase: String
    var rollout: String
    /// Every tenant the measurement stands for (one for a tenant, the shard's or the wave's tenants otherwise).
    var tenants: [String]

    init(target: CheckTarget, wave: String, phase: String, rollout: String) {
        tenant = target.tenant?.id ?? ""
        shard = target.shard ?? ""
        self.wave = wave
        self.phase = phase
        self.rollout = rollout
        tenants = target.members.map(\.id)
    }

    init(tenant: String, shard: String, wave: String, phase: String, rollout: String, tenants: [String] = []) {
        self.tenant = tenant
        self.shard = shard
        self.wave = wave
        self.phase = phase
        self.rollout = rollout
        self.tenants = tenants
    }

    var values: [(String, String)] {
        [("tenant", tenant), ("shard", shard), ("wave", wave), ("phase", phase), ("rollout", rollout)]
    }

    /// Replaces every `{name}` placeholder; `encode` is applied to each value (URLs percent-encode them).
    func fill(_ text: String, encode: (String) -> String = { $0 }) -> String {
        var result = text
        for (name, value) in values {
            result = result.replacingOccurrences(of: "{\(name)}", with: encode(value))
        }
        return result
    }

    /// A URL with the values percent-encoded, so a value can never add a path segment, a query or a fragment.
    func fillURL(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fill(text) { $0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0 }
    }

    /// `FLOTILLA_TENANT`, `FLOTILLA_SHARD`, `FLOTILLA_PHASE`, `FLOTILLA_WAVE`, `FLOTILLA_ROLLOUT`, and
    /// `FLOTILLA_TENANTS` (comma-separated: the tenants this measurement stands for).
    var environment: [String: String] {
        [
            "FLOTILLA_TENANT": tenant, "FLOTILLA_SHARD": shard, "FLOTILLA_PHASE": phase, "FLOTILLA_WAVE": wave,
            "FLOTILLA_ROLLOUT": rollout, "FLOTILLA_TENANTS": tenants.joined(separator: ","),
        ]
    }
}
