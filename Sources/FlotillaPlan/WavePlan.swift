import FlotillaModel

/// Which tenants fall in which wave, in order. Pure and deterministic: the same fleet and policy give the same plan.
public struct WavePlan: Sendable, Hashable, Codable {
    public var waves: [PlannedWave]

    public init(waves: [PlannedWave]) {
        self.waves = waves
    }

    /// Every tenant id, wave by wave.
    public var tenantIDs: [String] { waves.flatMap(\.tenants) }

    public func wave(of tenant: String) -> PlannedWave? { waves.first { $0.tenants.contains(tenant) } }
}

public struct PlannedWave: Sendable, Hashable, Codable {
    public var name: String
    /// 1-based position.
    public var number: Int
    public var bakeMilliseconds: Int64
    /// `shard` when the wave runs one shard after another.
    public var by: String?
    /// Tenant ids in fleet order.
    public var tenants: [String]
    /// One slice per shard for `by: shard` (in the fleet's shard order), otherwise one slice of every tenant.
    public var slices: [ShardSlice]

    enum CodingKeys: String, CodingKey {
        case name, number, by, tenants, slices
        case bakeMilliseconds = "bake_ms"
    }
}

public struct ShardSlice: Sendable, Hashable, Codable {
    /// Nil when the wave is not split by shard.
    public var shard: String?
    public var tenants: [String]
}
