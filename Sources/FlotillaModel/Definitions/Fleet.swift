/// Tenants that share one schema lineage, spread over shards. Read from `fleets/<fleet>/fleet.yaml`.
public struct Fleet: Sendable, Hashable {
    public var name: String
    /// The control store's URL; nil means the embedded local PostgreSQL.
    public var control: String?
    public var shards: [Shard]
    /// Every tenant, generated ones expanded, in definition order. Tenants of `sources` are added only when the
    /// sources are resolved (FlotillaEngine's `TenantSources`).
    public var tenants: [Tenant]
    /// Registry queries (`from:`) and discovery (`discover:`) among `tenants:`, in the order written.
    public var sources: [TenantSource]
    /// Webhooks told of every rollout's turning points on this fleet (`notify:`), beside the policy's.
    public var notify: [Notify] = []
    /// The `fleet.yaml` this came from.
    public var file: String
    public var location: SourceLocation

    public init(
        name: String, control: String? = nil, shards: [Shard], tenants: [Tenant], sources: [TenantSource] = [],
        file: String = "", location: SourceLocation? = nil
    ) {
        self.name = name
        self.control = control
        self.shards = shards
        self.tenants = tenants
        self.sources = sources
        self.file = file
        self.location = location ?? SourceLocation(file: file, line: 1, column: 1)
    }

    public func shard(named name: String) -> Shard? { shards.first { $0.name == name } }
}

/// A PostgreSQL server (and database) that hosts tenants.
public struct Shard: Sendable, Hashable {
    public var name: String
    /// `postgres://…`, or `embedded:DATABASE` for a database on Flotilla's own local PostgreSQL.
    public var url: String
    /// At most this many tenant steps at once on this shard (on top of the policy's `per_shard_parallel`).
    public var maxParallel: Int?
    public var location: SourceLocation

    public init(name: String, url: String, maxParallel: Int? = nil, location: SourceLocation) {
        self.name = name
        self.url = url
        self.maxParallel = maxParallel
        self.location = location
    }
}

/// The unit of isolation: a schema or a database on a shard.
public struct Tenant: Sendable, Hashable {
    public enum Placement: Sendable, Hashable, CustomStringConvertible {
        case schema(String)
        case database(String)

        public var name: String {
            switch self {
            case .schema(let name), .database(let name): return name
            }
        }

        public var description: String {
            switch self {
            case .schema(let name): return "schema \(name)"
            case .database(let name): return "database \(name)"
            }
        }
    }

    public var id: String
    public var shard: String
    public var placement: Placement
    public var labels: [String: String]
    public var location: SourceLocation

    public init(
        id: String, shard: String, placement: Placement, labels: [String: String] = [:], location: SourceLocation
    ) {
        self.id = id
        self.shard = shard
        self.placement = placement
        self.labels = labels
        self.location = location
    }
}
