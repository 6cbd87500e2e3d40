import FlotillaModel

/// One phase of one change: a row of a tenant's ledger, and a row of the census table.
public struct PhaseRef: Sendable, Hashable, CustomStringConvertible {
    public var change: String
    public var phase: String

    public init(change: String, phase: String) {
        self.change = change
        self.phase = phase
    }

    public var description: String { "\(change)/\(phase)" }
}

/// One row of a tenant's `flotilla_history`, as the census reads it.
public struct LedgerRow: Sendable, Hashable {
    public var change: String
    public var phase: String
    public var checksum: String
    public var reverted: Bool

    public init(change: String, phase: String, checksum: String, reverted: Bool) {
        self.change = change
        self.phase = phase
        self.checksum = checksum
        self.reverted = reverted
    }
}

/// What reading one tenant's ledger found.
public enum LedgerReading: Sendable, Hashable {
    /// The ledger's rows (possibly none).
    case rows([LedgerRow])
    /// No `flotilla_history`; `placementExists` says whether the tenant's schema (or database) is there at all.
    case noLedger(placementExists: Bool)
    /// The tenant's server could not be read: the shard, its server, and why.
    case unreachable(ShardProblem)
}

/// A shard (or a tenant's database on it) that could not be read.
public struct ShardProblem: Sendable, Hashable, CustomStringConvertible {
    public var shard: String
    /// `host:port` (or the socket) of the shard's server; empty when the shard has no usable URL.
    public var endpoint: String
    public var error: String

    public init(shard: String, endpoint: String, error: String) {
        self.shard = shard
        self.endpoint = endpoint
        self.error = error
    }

    public var description: String {
        endpoint.isEmpty ? "shard \(shard): \(error)" : "shard \(shard) (\(endpoint)): \(error)"
    }
}

/// A live ledger row whose checksum is not the definition's: the phase was changed after it was applied there.
public struct Drift: Sendable, Hashable {
    public var phase: PhaseRef
    public var ledgerChecksum: String
    public var definitionChecksum: String
}

/// Where one tenant stands, read from its ledger.
public struct TenantStanding: Sendable {
    public enum Condition: String, Sendable, Hashable, CaseIterable {
        /// Has every phase that any other tenant has, no drift.
        case current
        /// Lacks a phase that some other tenant of the fleet has applied.
        case behind
        /// A live ledger row's checksum differs from the definition.
        case drifted
        /// Could not be read.
        case unreachable
    }

    public var tenant: Tenant
    public var reading: LedgerReading
    /// Live rows (`reverted_at IS NULL`) of defined changes: phase → the ledger's checksum.
    public var live: [PhaseRef: String]
    /// Phases of defined changes with reverted rows only.
    public var reverted: Set<PhaseRef>
    public var drift: [Drift]
    /// Changes the ledger names (live rows) that the fleet does not define, sorted.
    public var unknownChanges: [String]
    /// Phases some other tenant has live and this one lacks, in the fleet's order.
    public var missing: [PhaseRef]
    /// The furthest phase, in the fleet's order, that the tenant has live.
    public var latest: PhaseRef?

    public var isReachable: Bool {
        if case .unreachable = reading { return false }
        return true
    }

    public var hasLedger: Bool {
        if case .rows = reading { return true }
        return false
    }

    public var isBehind: Bool { !missing.isEmpty }
    public var isDrifted: Bool { !drift.isEmpty }

    /// Drift first (a drifted tenant is never touched), then unreachable, behind, current.
    public var condition: Condition {
        if !isReachable { return .unreachable }
        if isDrifted { return .drifted }
        if isBehind { return .behind }
        return .current
    }

    /// Whether the ledger holds a live row of the phase (whatever its checksum).
    public func has(_ phase: PhaseRef) -> Bool { live[phase] != nil }

    /// Whether the ledger holds every phase of `change` live.
    public func hasAllPhases(of change: Change) -> Bool {
        change.phases.allSatisfy { has(PhaseRef(change: change.id, phase: $0.name)) }
    }
}

/// Per change and phase: how many tenants have it applied (a live row), reverted (only reverted rows), not yet (no
/// row), and how many could not be read.
public struct PhaseCount: Sendable, Hashable {
    public var phase: PhaseRef
    public var applied: Int
    public var reverted: Int
    public var notYet: Int
    public var unknown: Int
}

/// Where every tenant of a fleet stands, read from the tenants' ledgers (never from the journal).
public struct CensusReport: Sendable {
    public var fleet: String
    /// The phases counted, in the fleet's order (changes by id, phases in their change's order).
    public var phases: [PhaseRef]
    /// Every tenant, in the fleet's order.
    public private(set) var tenants: [TenantStanding]
    public var counts: [PhaseCount]
    /// "Latest phase applied" → how many tenants; nil: none applied. In the fleet's order, nil first.
    public var latestHistogram: [(latest: PhaseRef?, tenants: Int)]
    /// Shards (with their servers) that could not be read, each with how many tenants it left unread.
    public var unreachableShards: [(problem: ShardProblem, tenants: Int)]

    /// No tenant behind, drifted or unreachable.
    public var isUniform: Bool { tenants.allSatisfy { $0.condition == .current } }

    public func tenants(_ condition: TenantStanding.Condition) -> [TenantStanding] {
        tenants.filter { $0.condition == condition }
    }

    /// Tenants behind, per shard (shards in name order, tenants in the fleet's order).
    public var behindByShard: [(shard: String, tenants: [TenantStanding])] {
        let behind = tenants.filter(\.isBehind)
        return Dictionary(grouping: behind, by: \.tenant.shard).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Tenants without a ledger (reachable), whose schema or database may not exist either.
    public var withoutLedger: [TenantStanding] {
        tenants.filter {
            if case .noLedger = $0.reading { return true }
            return false
        }
    }

    /// Tenants whose ledger names a change the fleet does not define.
    public var withUnknownChanges: [TenantStanding] { tenants.filter { !$0.unknownChanges.isEmpty } }

    /// Reachable tenants that lack a live row of some phase of `change` (for `rollout`'s `requires` check).
    public func tenantsLacking(_ change: Change) -> [TenantStanding] {
        tenants.filter { $0.isReachable && !$0.hasAllPhases(of: change) }
    }

    /// Where each tenant id is in `tenants`.
    private var positions: [String: Int] = [:]

    /// The standing of a tenant by id.
    public func standing(of tenant: String) -> TenantStanding? { positions[tenant].map { tenants[$0] } }

    /// Builds the report from each tenant's reading. Pure: no database.
    ///
    /// - Parameters:
    ///   - changes: the changes counted, in the fleet's order (their files sort by id).
    ///   - defined: every change id the fleet defines (ledger rows of these that are not counted are not "unknown").
    ///   - readings: by tenant id; a tenant without one counts as unreachable.
    public static func make(
        fleet: Fleet, tenants: [Tenant], changes: [Change], defined: Set<String>,
        readings: [String: LedgerReading]
    ) -> CensusReport {
        var order: [PhaseRef] = []
        var checksums: [PhaseRef: String] = [:]
        for change in changes {
            for phase in change.phases {
                let ref = PhaseRef(change: change.id, phase: phase.name)
                order.append(ref)
                checksums[ref] = phase.checksum
            }
        }
        let position = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let defined = defined.union(changes.map(\.id))

        var standings: [TenantStanding] = []
        standings.reserveCapacity(tenants.count)
        for tenant in tenants {
            let reading =
                readings[tenant.id]
                ?? .unreachable(ShardProblem(shard: tenant.shard, endpoint: "", error: "not read"))
            var standing = TenantStanding(
                tenant: tenant, reading: reading, live: [:], reverted: [], drift: [], unknownChanges: [], missing: [],
                latest: nil)
            if case .rows(let rows) = reading {
                var unknown = Set<String>()
                var revertedOnly = Set<PhaseRef>()
                for row in rows {
                    let ref = PhaseRef(change: row.change, phase: row.phase)
                    guard let definition = checksums[ref] else {
                        if !defined.contains(row.change), !row.reverted { unknown.insert(row.change) }
                        continue
                    }
                    if row.reverted {
                        revertedOnly.insert(ref)
                    } else {
                        standing.live[ref] = row.checksum
                        if row.checksum != definition {
                            standing.drift.append(
                                Drift(phase: ref, ledgerChecksum: row.checksum, definitionChecksum: definition))
                        }
                    }
                }
                standing.reverted = revertedOnly.subtracting(standing.live.keys)
                standing.unknownChanges = unknown.sorted()
                standing.drift.sort { (position[$0.phase] ?? 0) < (position[$1.phase] ?? 0) }
                standing.latest = standing.live.keys.max { (position[$0] ?? 0) < (position[$1] ?? 0) }
            }
            standings.append(standing)
        }

        // Behind: lacks a phase that some other (readable) tenant has live.
        var applied = Set<PhaseRef>()
        for standing in standings { applied.formUnion(standing.live.keys) }
        let fleetPhases = order.filter { applied.contains($0) }
        for index in standings.indices where standings[index].isReachable {
            standings[index].missing = fleetPhases.filter { standings[index].live[$0] == nil }
        }

        var counts = order.map { PhaseCount(phase: $0, applied: 0, reverted: 0, notYet: 0, unknown: 0) }
        for standing in standings {
            for (index, ref) in order.enumerated() {
                if !standing.isReachable {
                    counts[index].unknown += 1
                } else if standing.live[ref] != nil {
                    counts[index].applied += 1
                } else if standing.reverted.contains(ref) {
                    counts[index].reverted += 1
                } else {
                    counts[index].notYet += 1
                }
            }
        }

        var histogram: [PhaseRef?: Int] = [:]
        for standing in standings where standing.isReachable { histogram[standing.latest, default: 0] += 1 }
        let rank: (PhaseRef?) -> Int = { $0.flatMap { position[$0] } ?? -1 }
        let latestHistogram = histogram.sorted { rank($0.key) < rank($1.key) }.map {
            (latest: $0.key, tenants: $0.value)
        }

        var problems: [ShardProblem: Int] = [:]
        var problemOrder: [ShardProblem] = []
        for standing in standings {
            guard case .unreachable(let problem) = standing.reading else { continue }
            if problems[problem] == nil { problemOrder.append(problem) }
            problems[problem, default: 0] += 1
        }

        var report = CensusReport(
            fleet: fleet.name, phases: order, tenants: standings, counts: counts, latestHistogram: latestHistogram,
            unreachableShards: problemOrder.map { ($0, problems[$0] ?? 0) })
        report.positions = Dictionary(
            standings.enumerated().map { ($1.tenant.id, $0) }, uniquingKeysWith: { first, _ in first })
        return report
    }
}
