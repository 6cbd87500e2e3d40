import FlotillaModel
import Foundation

/// What a webhook is sent about one turning point of a rollout. With `format: json` it is the body as it stands:
/// `{"event", "rollout", "fleet", "change", "phase", "reason", "tenants", "time", "url"}`; keys without a value are
/// left out, `time` is ISO 8601 in UTC, `url` is the rollout's page on the dashboard when `FLOTILLA_DASHBOARD_URL`
/// says where it is.
public struct RolloutNotification: Sendable, Hashable, Codable {
    public var event: Notify.Event
    public var rollout: String
    public var fleet: String
    public var change: String
    /// The phase it happened in, when it happened in one.
    public var phase: String?
    /// Why: the halt's or the failure's reason.
    public var reason: String?
    /// For `quarantined` and `failed`: the tenants concerned.
    public var tenants: [String]?
    public var time: String
    public var url: String?

    public init(
        event: Notify.Event, rollout: String, fleet: String, change: String, phase: String? = nil,
        reason: String? = nil, tenants: [String]? = nil, time: Date = Date(), url: String? = nil
    ) {
        self.event = event
        self.rollout = rollout
        self.fleet = fleet
        self.change = change
        self.phase = phase
        self.reason = reason
        self.tenants = tenants
        self.time = Self.timeFormatter.string(from: time)
        self.url = url
    }

    nonisolated(unsafe) static let timeFormatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    /// One line for people: what happened to which rollout, where and why.
    public var text: String {
        var line = "flotilla: rollout \(rollout) of \(change) on fleet \(fleet) "
        switch event {
        case .halted: line += "halted"
        case .reverted: line += "reverted"
        case .awaitingApproval: line += "awaits approval"
        case .quarantined: line += "quarantined \(tenants?.count ?? 0) tenant(s)"
        case .done: line += "is done"
        case .failed: line += "had a failure"
        }
        if let phase { line += " at phase \(phase)" }
        if let tenants, !tenants.isEmpty {
            let shown = tenants.prefix(10).joined(separator: ", ")
            line += " (\(shown)\(tenants.count > 10 ? ", …" : ""))"
        }
        if let reason, !reason.isEmpty { line += ": \(reason)" }
        if let url { line += " — \(url)" }
        return line
    }

    /// The request body in `format`.
    public func body(_ format: Notify.Format) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        switch format {
        case .json:
            return Array((try? encoder.encode(self)) ?? Data())
        case .slack:
            return Array((try? encoder.encode(["text": text])) ?? Data())
        }
    }
}
