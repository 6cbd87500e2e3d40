/// What health checks concluded — one check over a wave (`CheckTally.verdict`), a wave's whole bake
/// (`BakeWatcher.watch`), or the driver's reading of it under `on_inconclusive` (`Driver.bake`, where an
/// `inconclusive` that remains means: stop here).
public enum BakeVerdict: Sendable, Equatable {
    case healthy
    /// Why, and the tenants whose own measurements failed when the check is measured per tenant (empty when the
    /// failure is not any one tenant's: a wave- or shard-wide check).
    case failed(String, tenants: [String])
    case inconclusive(String)
    /// Before a wave: its preflight checks do not pass yet, and it waits.
    case waiting(String)

    /// The word `flotilla.check_verdicts.verdict` holds.
    public var journalWord: String {
        switch self {
        case .healthy: "passed"
        case .failed: "failed"
        case .inconclusive: "inconclusive"
        case .waiting: "waiting"
        }
    }

    /// Why it is not healthy.
    public var reason: String? {
        switch self {
        case .healthy: nil
        case .failed(let why, _), .inconclusive(let why), .waiting(let why): why
        }
    }
}
