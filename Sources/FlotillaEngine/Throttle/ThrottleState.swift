import FlotillaModel
import Foundation

/// One reading of one signal on one shard: a value, or why there is none (unknown).
struct ThrottleReading: Sendable, Hashable {
    var signal: ThrottleSignal
    var value: Double?
    var error: String?
}

/// Why a shard is throttled: the signal, its value (nil: unknown), the threshold it is above, and since when.
public struct ThrottleCause: Sendable, Hashable, CustomStringConvertible {
    public var shard: String
    public var signal: String
    /// nil when the signal could not be read.
    public var value: Double?
    public var threshold: Double
    /// The value and threshold as written in a policy (`7`, `5s`, `80%`).
    public var valueText: String
    public var thresholdText: String
    public var since: Date

    /// `lock_waiters = 7 > 5`, or `lock_waiters unknown (…)`.
    public var condition: String {
        value == nil ? "\(signal) unknown (\(valueText))" : "\(signal) = \(valueText) > \(thresholdText)"
    }

    /// `shard s1 throttled by lock_waiters = 7 > 5`.
    public var description: String { "shard \(shard) throttled by \(condition)" }
}

/// What a shard's latest readings mean for it.
enum ShardVerdict: Sendable, Hashable {
    case clear
    case paused(ThrottleCause)
    case halt(ThrottleCause)

    /// The verdict of one round of readings: the first signal above its `halt_above` halts; else the first above its
    /// `pause_above`, or unknown under `on_unknown: pause`, pauses. `since` is kept from the previous verdict when the
    /// same signal still throttles.
    static func of(
        _ readings: [ThrottleReading], shard: String, onUnknown: Throttle.OnUnknown, previous: ShardVerdict,
        now: Date
    ) -> ShardVerdict {
        func cause(_ reading: ThrottleReading, threshold: Double) -> ThrottleCause {
            var since = now
            if case .paused(let old) = previous, old.signal == reading.signal.name { since = old.since }
            return ThrottleCause(
                shard: shard, signal: reading.signal.name, value: reading.value, threshold: threshold,
                valueText: reading.value.map(reading.signal.format) ?? (reading.error ?? "not read"),
                thresholdText: reading.signal.format(threshold), since: since)
        }
        for reading in readings {
            if let value = reading.value, let halt = reading.signal.haltAbove, value > halt {
                return .halt(cause(reading, threshold: halt))
            }
        }
        for reading in readings {
            if let value = reading.value {
                if value > reading.signal.pauseAbove {
                    return .paused(cause(reading, threshold: reading.signal.pauseAbove))
                }
            } else if onUnknown == .pause {
                return .paused(cause(reading, threshold: reading.signal.pauseAbove))
            }
        }
        return .clear
    }

    var cause: ThrottleCause? {
        switch self {
        case .clear: return nil
        case .paused(let cause), .halt(let cause): return cause
        }
    }
}
