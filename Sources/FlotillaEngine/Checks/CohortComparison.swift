import FlotillaModel
import Foundation

/// `compare: cohort`, measured: each round reads the check's number on the tenants that got the phase in this wave
/// (the changed cohort) and on a sample of tenants on the same shards that have not got it yet (the baseline), at the
/// same time, and compares the two medians. Pure.
///
/// **Worse** means higher, or lower when the check gives `min:` and no `max:` (a floor). The round fails when the
/// changed median is worse than the baseline median by more than `max_regression` — a share of the baseline median
/// (`"20%"`; with a baseline of 0, any worsening is more than any share) or an amount (`5`). It is inconclusive when
/// either side has fewer than `min_samples` readings, and passes otherwise. A slowdown of the whole database moves
/// both medians alike and passes; one the change brought moves only the changed cohort's and fails.
extension CohortComparison {
    /// A tenant's reading in cohort mode: the number is what counts (min/max only say which way is worse), so a
    /// number passes, anything else is an error, and no data stays inconclusive.
    static func reading(_ result: (verdict: CheckMeasurement.Verdict, value: String?, detail: String)) -> (
        verdict: CheckMeasurement.Verdict, value: String?, detail: String
    ) {
        guard let value = result.value else { return result }
        guard let number = Double(value.trimmingCharacters(in: .whitespaces)), number.isFinite else {
            return (.error, value, "returned '\(value.prefix(80))', not a number")
        }
        return (.pass, value, "read \(SQLCheck.format(number))")
    }

    /// The middle value (the mean of the two middle ones for an even count); nil when empty.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The round's verdict from the two cohorts' numbers: `value` is the changed median, `baseline` the baseline's.
    func judge(changed: [Double], baseline: [Double], higherIsWorse: Bool) -> (
        verdict: CheckMeasurement.Verdict, value: String?, baseline: String?, detail: String
    ) {
        let changedMedian = Self.median(changed)
        let baselineMedian = Self.median(baseline)
        let value = changedMedian.map(SQLCheck.format)
        let base = baselineMedian.map(SQLCheck.format)
        let sides =
            "changed median \(value ?? "-") (\(changed.count)) vs baseline median \(base ?? "-") (\(baseline.count))"
        guard changed.count >= minSamples, baseline.count >= minSamples, let changedMedian, let baselineMedian else {
            return (
                .inconclusive, value, base, "\(sides): fewer than min_samples \(minSamples) readings on a side"
            )
        }
        let worse = higherIsWorse ? changedMedian - baselineMedian : baselineMedian - changedMedian
        let direction = higherIsWorse ? "higher" : "lower"
        let amount: String
        let over: Bool
        switch maxRegression {
        case .ratio(let limit):
            if baselineMedian == 0 {
                over = worse > 0
                amount = worse > 0 ? "\(SQLCheck.format(worse)) \(direction) than a baseline of 0" : "not worse"
            } else {
                let share = worse / abs(baselineMedian)
                over = share > limit
                amount = share > 0 ? "\(Self.percent(share)) \(direction)" : "not worse"
            }
        case .absolute(let limit):
            over = worse > limit
            amount = worse > 0 ? "\(SQLCheck.format(worse)) \(direction)" : "not worse"
        }
        if over {
            return (.fail, value, base, "\(sides): \(amount), more than max_regression \(maxRegression)")
        }
        return (.pass, value, base, "\(sides): \(amount), within max_regression \(maxRegression)")
    }

    static func percent(_ share: Double) -> String {
        let percent = (share * 1000).rounded() / 10
        return percent == percent.rounded() ? "\(Int(percent))%" : "\(percent)%"
    }

    /// Up to `count` tenants of `candidates` (in their order), taken in turn from each shard of `shards` (in that
    /// order) so every shard the wave touched is represented.
    static func sample(_ candidates: [Tenant], shards: [String], count: Int) -> [Tenant] {
        var queues = shards.map { shard in candidates.filter { $0.shard == shard }[...] }
        var taken: [Tenant] = []
        while taken.count < count, queues.contains(where: { !$0.isEmpty }) {
            for index in queues.indices where taken.count < count {
                if let next = queues[index].popFirst() { taken.append(next) }
            }
        }
        return taken
    }
}
