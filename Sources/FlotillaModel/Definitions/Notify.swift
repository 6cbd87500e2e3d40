/// A webhook that hears about a rollout's turning points (`notify:` in a policy or a fleet). Delivered in the
/// background with retries and backoff: a notification never blocks or fails the rollout; one that gives up is an
/// event in the journal.
public struct Notify: Sendable, Hashable {
    /// The turning points a webhook can ask for.
    public enum Event: String, Sendable, Hashable, CaseIterable, Codable {
        /// The rollout stopped: a halt, a failure under `on_failure: halt`, an irreversible phase.
        case halted
        /// The rollout stopped and undid the failing phase where it applied it.
        case reverted
        /// A gated phase (or a paused bake) waits for `flotilla approve`.
        case awaitingApproval = "awaiting-approval"
        /// Tenants were set aside under `on_failure: quarantine`.
        case quarantined
        /// Every phase is applied fleet-wide.
        case done
        /// A tenant's step failed after its retries, or the coordinator itself failed.
        case failed
    }

    /// The body sent.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        /// `{"event", "rollout", "fleet", "change", "phase", "reason", "tenants", "time", "url"}`.
        case json
        /// `{"text": "…"}`, for a Slack (or Mattermost, Rocket.Chat) incoming webhook.
        case slack
    }

    /// `http://` or `https://`.
    public var url: String
    /// Which turning points are sent; every one when `events:` is left out.
    public var events: Set<Event>
    public var format: Format
    /// The environment variable holding the HMAC-SHA256 key; with it, each request carries
    /// `X-Flotilla-Signature: sha256=<hex of HMAC(key, body)>`.
    public var secretEnv: String?
    /// Tries in all, the first included.
    public var attempts: Int
    /// The wait before the second try; doubled before each further one.
    public var backoff: Duration
    /// How long one try may take.
    public var timeout: Duration
    public var location: SourceLocation

    public init(
        url: String, events: Set<Event> = Set(Event.allCases), format: Format = .json, secretEnv: String? = nil,
        attempts: Int = 5, backoff: Duration = .seconds(1), timeout: Duration = .seconds(10),
        location: SourceLocation
    ) {
        self.url = url
        self.events = events
        self.format = format
        self.secretEnv = secretEnv
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.location = location
    }

    /// Whether this webhook asked for `event`.
    public func wants(_ event: Event) -> Bool { events.contains(event) }
}
