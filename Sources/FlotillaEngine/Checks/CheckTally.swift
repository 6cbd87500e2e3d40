import FlotillaModel

/// The running verdict of one check over one bake (or one preflight): measurements in, a verdict out. Pure.
///
/// A check **fails** when its failures exceed `failure_limit`, or when one target's consecutive errors exceed
/// `consecutive_error_limit`. It is **inconclusive** while some target's latest measurement is an error or
/// inconclusive. Otherwise it passes.
struct CheckTally: Sendable {
    let check: Check
    private(set) var passes = 0
    private(set) var failures = 0
    private(set) var errors = 0
    private(set) var inconclusives = 0
    /// Consecutive errors per target, reset by any other verdict.
    private(set) var errorStreak: [String: Int] = [:]
    private(set) var latest: [String: CheckMeasurement] = [:]
    /// The newest measurements, newest last.
    private(set) var recent: [CheckMeasurement] = []
    static let recentLimit = 20

    init(_ check: Check) {
        self.check = check
    }

    var count: Int { passes + failures + errors + inconclusives }

    mutating func add(_ measurement: CheckMeasurement) {
        switch measurement.verdict {
        case .pass: passes += 1
        case .fail: failures += 1
        case .error: errors += 1
        case .inconclusive: inconclusives += 1
        }
        if measurement.verdict == .error {
            errorStreak[measurement.target, default: 0] += 1
        } else {
            errorStreak[measurement.target] = 0
        }
        latest[measurement.target] = measurement
        recent.append(measurement)
        if recent.count > Self.recentLimit { recent.removeFirst(recent.count - Self.recentLimit) }
    }

    /// Why the check failed, or nil while it has not.
    var failure: String? {
        if failures > check.failureLimit {
            return
                "\(failures) failed measurement\(failures == 1 ? "" : "s"), more than failure_limit \(check.failureLimit)"
        }
        if let (target, streak) = errorStreak.filter({ $0.value > check.consecutiveErrorLimit }).max(by: {
            $0.value < $1.value
        }) {
            return
                "\(streak) consecutive errors on \(target), more than consecutive_error_limit \(check.consecutiveErrorLimit)"
        }
        return nil
    }

    /// Targets whose latest measurement is not conclusive (an error, or no data), in order.
    var unsettled: [CheckMeasurement] {
        latest.values.filter { $0.verdict == .error || $0.verdict == .inconclusive }.sorted { $0.target < $1.target }
    }

    /// Targets whose latest measurement failed.
    var failing: [CheckMeasurement] {
        latest.values.filter { $0.verdict == .fail }.sorted { $0.target < $1.target }
    }

    /// Why the check is inconclusive, or nil when every target's latest measurement is conclusive.
    var inconclusive: String? {
        let open = unsettled
        guard !open.isEmpty else { return nil }
        let names = open.prefix(5).map { "\($0.target) (\($0.verdict.rawValue): \($0.detail))" }
        return "no conclusive measurement from \(open.count) target\(open.count == 1 ? "" : "s"): "
            + names.joined(separator: "; ") + (open.count > 5 ? "; …" : "")
    }

    /// This check's verdict over the wave so far.
    var verdict: BakeVerdict {
        if let failure { return .failed(failure, tenants: failing.map(\.target)) }
        if let inconclusive { return .inconclusive(inconclusive) }
        return .healthy
    }

    /// `3 pass, 1 fail, 0 error, 0 inconclusive`.
    var counts: String {
        "\(passes) pass, \(failures) fail, \(errors) error, \(inconclusives) inconclusive"
    }

    /// The newest measurements first, at most `limit`.
    func last(_ limit: Int) -> [CheckMeasurement] { Array(recent.suffix(limit).reversed()) }
}
