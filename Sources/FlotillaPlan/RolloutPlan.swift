import FlotillaLint
import FlotillaModel
import Foundation

/// Everything `flotilla plan` shows and `flotilla rollout` runs: the waves, the caps and each phase's SQL.
public struct RolloutPlan: Sendable, Hashable, Codable {
    public struct Caps: Sendable, Hashable, Codable {
        public var parallel: Int
        public var perShard: [String: Int]
        public var lockTimeoutMilliseconds: Int64
        public var statementTimeoutMilliseconds: Int64
        public var retryAttempts: Int
        public var retryBackoffMilliseconds: Int64

        enum CodingKeys: String, CodingKey {
            case parallel
            case perShard = "per_shard"
            case lockTimeoutMilliseconds = "lock_timeout_ms"
            case statementTimeoutMilliseconds = "statement_timeout_ms"
            case retryAttempts = "retry_attempts"
            case retryBackoffMilliseconds = "retry_backoff_ms"
        }
    }

    public struct PlannedPhase: Sendable, Hashable, Codable {
        public var name: String
        public var up: String?
        public var down: String?
        public var verify: String?
        public var backfill: String?
        public var gate: String?
        public var reversible: Bool
        public var transaction: String
        public var checksum: String
        /// The risk of each statement of `up`.
        public var findings: [Finding]
    }

    public var fleet: String
    public var change: String
    public var policy: String
    public var tenantCount: Int
    public var shards: [String]
    public var caps: Caps
    public var waves: [PlannedWave]
    public var phases: [PlannedPhase]
    public var onFailure: String
    public var failureBudget: String
    public var checks: [String]
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case fleet, change, policy, shards, caps, waves, phases, checks, warnings
        case tenantCount = "tenant_count"
        case onFailure = "on_failure"
        case failureBudget = "failure_budget"
    }

    /// Plans a rollout. Throws the problems (with their places) when the plan cannot run.
    public static func make(fleet: Fleet, change: Change, policy: Policy) throws(DefinitionError) -> RolloutPlan {
        let (wavePlan, diagnostics) = WavePlanner.plan(fleet: fleet, policy: policy)
        var all = Diagnostics()
        all.append(contentsOf: diagnostics)
        if policy.onFailure == .revert {
            for phase in change.phases where phase.down == nil && phase.up != nil && phase.reversible == false {
                all.warning(
                    phase.location, "phases",
                    "phase '\(phase.name)' has no 'down': with on_failure: revert it cannot be reverted; a failure there halts the rollout instead"
                )
            }
        }
        try all.check()
        var perShard: [String: Int] = [:]
        for shard in fleet.shards { perShard[shard.name] = min(policy.perShardParallel, shard.maxParallel ?? Int.max) }
        let findings = ChangeLint.findings(change)
        let phases = change.phases.map { phase in
            PlannedPhase(
                name: phase.name, up: phase.up?.sql.trimmingWhitespaceAndNewlines(),
                down: phase.down?.sql.trimmingWhitespaceAndNewlines(),
                verify: phase.verify?.sql.trimmingWhitespaceAndNewlines(),
                backfill: phase.backfill.map(BackfillSQL.describe),
                gate: phase.gate?.rawValue, reversible: phase.reversible, transaction: phase.transaction.rawValue,
                checksum: phase.checksum, findings: findings.filter { $0.phase == phase.name })
        }
        return RolloutPlan(
            fleet: fleet.name, change: change.id, policy: policy.name, tenantCount: fleet.tenants.count,
            shards: fleet.shards.map(\.name),
            caps: Caps(
                parallel: policy.parallel, perShard: perShard, lockTimeoutMilliseconds: policy.lockTimeout.milliseconds,
                statementTimeoutMilliseconds: policy.statementTimeout.milliseconds,
                retryAttempts: policy.retries.attempts,
                retryBackoffMilliseconds: policy.retries.backoff.milliseconds),
            waves: wavePlan.waves, phases: phases, onFailure: policy.onFailure.rawValue,
            failureBudget: "per wave \(policy.failureBudget.perWave), total \(policy.failureBudget.total)",
            checks: policy.checks.map { "\($0.name) (\($0.scope.rawValue))" },
            warnings: all.warnings.map(\.description))
    }
}

extension String {
    func trimmingWhitespaceAndNewlines() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}

/// JSON as Foundation's `JSONEncoder` writes it with `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]`, byte
/// for byte, at a fraction of the cost for a plan's long lists of tenant ids. It knows strings, whole numbers,
/// booleans, nulls, lists and objects; nil for anything else (floating point, dates, data, URLs, super encoders),
/// which the caller then gives to `JSONEncoder`. The tests compare both on many plans.
enum PrettyJSON {
    static func encode(_ value: some Encodable) -> String? {
        let state = State()
        let encoder = TreeEncoder(state: state)
        do {
            try value.encode(to: encoder)
        } catch {
            return nil
        }
        guard let root = encoder.node, !state.unsupported else { return nil }
        var writer = Writer()
        writer.write(root)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// A value not written here.
    struct Unsupported: Error {}

    /// Shared by everything one value's encoding makes: whether it met something not written here where it could
    /// not throw (a super encoder).
    final class State {
        var unsupported = false
    }

    /// Not `indirect`: lists and objects are classes already, and a boxed string per tenant id costs an allocation.
    enum Node {
        case string(String)
        /// A number's text.
        case number(String)
        case bool(Bool)
        case null
        case array(ArrayBox)
        case object(ObjectBox)
    }

    /// Containers are filled after they are handed out, so they are shared, not copied.
    final class ArrayBox {
        let state: State
        var items: [Node] = []

        init(state: State) { self.state = state }
    }

    final class ObjectBox {
        let state: State
        var keys: [String] = []
        var values: [Node] = []

        init(state: State) { self.state = state }

        /// As in a dictionary, a key set again keeps its last value.
        func set(_ key: String, _ value: Node) {
            if let index = keys.firstIndex(of: key) {
                values[index] = value
            } else {
                keys.append(key)
                values.append(value)
            }
        }
    }

    /// Builds the tree of one value.
    final class TreeEncoder: Encoder {
        let state: State
        var codingPath: [any CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] = [:]
        var node: Node?

        init(state: State) { self.state = state }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if case .object(let box) = node { return KeyedEncodingContainer(Keyed(box: box)) }
            let box = ObjectBox(state: state)
            node = .object(box)
            return KeyedEncodingContainer(Keyed(box: box))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if case .array(let box) = node { return Unkeyed(box: box) }
            let box = ArrayBox(state: state)
            node = .array(box)
            return Unkeyed(box: box)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(encoder: self) }

        /// The tree of a nested value.
        static func node<Value: Encodable>(of value: Value, state: State) throws -> Node {
            // Lists of tenant ids come here one string at a time: a type check, not a dynamic cast.
            if Value.self == String.self { return .string(unsafeBitCast(value, to: String.self)) }
            try checkSupported(type(of: value))
            let encoder = TreeEncoder(state: state)
            try value.encode(to: encoder)
            // A value that encodes nothing is an empty object to JSONEncoder.
            return encoder.node ?? .object(ObjectBox(state: state))
        }

        /// An encoder for a super class's values: not written here.
        static func unsupported(_ state: State) -> any Encoder {
            state.unsupported = true
            return TreeEncoder(state: state)
        }

        static func checkSupported(_ type: Any.Type) throws {
            // JSONEncoder writes these its own way (strategies, number formatting); left to it.
            if type is Double.Type || type is Float.Type || type is Date.Type || type is Data.Type
                || type is URL.Type || type is Decimal.Type
            {
                throw Unsupported()
            }
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let box: ObjectBox
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { box.set(key.stringValue, .null) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { box.set(key.stringValue, .bool(value)) }
        mutating func encode(_ value: String, forKey key: Key) throws { box.set(key.stringValue, .string(value)) }
        mutating func encode(_ value: Double, forKey key: Key) throws { throw Unsupported() }
        mutating func encode(_ value: Float, forKey key: Key) throws { throw Unsupported() }
        mutating func encode(_ value: Int, forKey key: Key) throws { box.set(key.stringValue, .number(String(value))) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { box.set(key.stringValue, .number(String(value))) }
        mutating func encode(_ value: Int16, forKey key: Key) throws {
            box.set(key.stringValue, .number(String(value)))
        }
        mutating func encode(_ value: Int32, forKey key: Key) throws {
            box.set(key.stringValue, .number(String(value)))
        }
        mutating func encode(_ value: Int64, forKey key: Key) throws {
            box.set(key.stringValue, .number(String(value)))
        }
        mutating func encode(_ value: UInt, forKey key: Key) throws { box.set(key.stringValue, .number(String(value))) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws {
            box.set(key.stringValue, .number(String(value)))
        }
        mutating func encode(_ value: UInt16, forKey key: Key) throws {
            box.set(key.stringValue, .number(String(value)))
        }
        mutating func encode(_ value: UInt32, forKey key: Key) throws {
            box.set(key.stringValue, .number(String(value)))
        }
        mutating func encode(_ value: UInt64, forKey key: Key) throws {
            box.set(key.stringValue, .number(String(value)))
        }
        mutating func encode(_ value: some Encodable, forKey key: Key) throws {
            box.set(key.stringValue, try TreeEncoder.node(of: value, state: box.state))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        {
            let nested = ObjectBox(state: box.state)
            box.set(key.stringValue, .object(nested))
            return KeyedEncodingContainer(Keyed<NestedKey>(box: nested))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let nested = ArrayBox(state: box.state)
            box.set(key.stringValue, .array(nested))
            return Unkeyed(box: nested)
        }

        mutating func superEncoder() -> any Encoder { TreeEncoder.unsupported(box.state) }
        mutating func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder.unsupported(box.state) }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let box: ArrayBox
        var codingPath: [any CodingKey] { [] }
        var count: Int { box.items.count }

        mutating func encodeNil() throws { box.items.append(.null) }
        mutating func encode(_ value: Bool) throws { box.items.append(.bool(value)) }
        mutating func encode(_ value: String) throws { box.items.append(.string(value)) }
        mutating func encode(_ value: Double) throws { throw Unsupported() }
        mutating func encode(_ value: Float) throws { throw Unsupported() }
        mutating func encode(_ value: Int) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: Int8) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: Int16) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: Int32) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: Int64) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: UInt) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: UInt8) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: UInt16) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: UInt32) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: UInt64) throws { box.items.append(.number(String(value))) }
        mutating func encode(_ value: some Encodable) throws {
            box.items.append(try TreeEncoder.node(of: value, state: box.state))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
            -> KeyedEncodingContainer<NestedKey>
        {
            let nested = ObjectBox(state: box.state)
            box.items.append(.object(nested))
            return KeyedEncodingContainer(Keyed<NestedKey>(box: nested))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let nested = ArrayBox(state: box.state)
            box.items.append(.array(nested))
            return Unkeyed(box: nested)
        }

        mutating func superEncoder() -> any Encoder { TreeEncoder.unsupported(box.state) }
    }

    struct Single: SingleValueEncodingContainer {
        let encoder: TreeEncoder
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil() throws { encoder.node = .null }
        mutating func encode(_ value: Bool) throws { encoder.node = .bool(value) }
        mutating func encode(_ value: String) throws { encoder.node = .string(value) }
        mutating func encode(_ value: Double) throws { throw Unsupported() }
        mutating func encode(_ value: Float) throws { throw Unsupported() }
        mutating func encode(_ value: Int) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: Int8) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: Int16) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: Int32) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: Int64) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: UInt) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: UInt8) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: UInt16) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: UInt32) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: UInt64) throws { encoder.node = .number(String(value)) }
        mutating func encode(_ value: some Encodable) throws {
            encoder.node = try TreeEncoder.node(of: value, state: encoder.state)
        }
    }

    /// Writes the tree as `JSONEncoder`'s pretty printer does: two spaces a level, `"key" : value`, keys in the
    /// order of their UTF-8 bytes, an empty list or object as an opening line, an empty line and a closing line.
    struct Writer {
        var bytes: [UInt8] = []
        var indent = 0

        mutating func write(_ node: Node) {
            switch node {
            case .string(let text): string(text)
            case .number(let text): bytes += text.utf8
            case .bool(let value): bytes += (value ? "true" : "false").utf8
            case .null: bytes += "null".utf8
            case .array(let box):
                bytes.append(UInt8(ascii: "["))
                bytes.append(0x0A)
                indent += 1
                for (index, item) in box.items.enumerated() {
                    if index > 0 {
                        bytes.append(UInt8(ascii: ","))
                        bytes.append(0x0A)
                    }
                    writeIndent()
                    write(item)
                }
                bytes.append(0x0A)
                indent -= 1
                writeIndent()
                bytes.append(UInt8(ascii: "]"))
            case .object(let box):
                bytes.append(UInt8(ascii: "{"))
                bytes.append(0x0A)
                indent += 1
                let order = box.keys.indices.sorted { box.keys[$0].utf8.lexicographicallyPrecedes(box.keys[$1].utf8) }
                for (position, index) in order.enumerated() {
                    if position > 0 {
                        bytes.append(UInt8(ascii: ","))
                        bytes.append(0x0A)
                    }
                    writeIndent()
                    string(box.keys[index])
                    bytes += " : ".utf8
                    write(box.values[index])
                }
                bytes.append(0x0A)
                indent -= 1
                writeIndent()
                bytes.append(UInt8(ascii: "}"))
            }
        }

        mutating func writeIndent() {
            for _ in 0..<indent {
                bytes.append(UInt8(ascii: " "))
                bytes.append(UInt8(ascii: " "))
            }
        }

        /// Quoted, with `"`, `\`, and control characters escaped (`\b \f \n \r \t`, else `\u00xx`); `/` as is.
        mutating func string(_ text: String) {
            bytes.append(UInt8(ascii: "\""))
            // Most strings need no escape: copied whole.
            let copied: Bool? = text.utf8.withContiguousStorageIfAvailable { utf8 in
                guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") })
                else { return false }
                bytes.append(contentsOf: utf8)
                return true
            }
            if copied == true {
                bytes.append(UInt8(ascii: "\""))
                return
            }
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case 0x08: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
                case 0x0C: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
                case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0x00...0x1F:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                    bytes += [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
                default: bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }
}
