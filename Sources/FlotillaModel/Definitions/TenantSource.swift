/// Where some of a fleet's tenants come from besides the ones listed and `generate:`d: a registry query (`from:`)
/// or discovery on shards (`discover:`). A source is resolved, by connecting, only when a command needs the
/// tenants (`plan`, `rollout`, `census`, `converge`); reading a fleet never connects.
public enum TenantSource: Sendable, Hashable, CustomStringConvertible {
    case registry(RegistrySource)
    case discovery(DiscoverySource)

    /// The `from:` or `discover:` entry in `fleet.yaml`.
    public var location: SourceLocation {
        switch self {
        case .registry(let source): return source.location
        case .discovery(let source): return source.location
        }
    }

    /// `from:` or `discover:`.
    public var key: String {
        switch self {
        case .registry: return "from"
        case .discovery: return "discover"
        }
    }

    /// `from: at fleets/demo/fleet.yaml:12:5`
    public var description: String { "\(key): at \(location)" }
}

/// `- from: {url: postgres://… | shard: NAME, query: "SELECT id, shard, schema, labels FROM …"}`: each row of the
/// query is a tenant. Columns by name: `id` (required), `shard` (required unless the source names a `shard:`), one
/// of `schema` / `database`, optional `labels` (a json/jsonb object of strings).
public struct RegistrySource: Sendable, Hashable {
    /// Where the registry table lives.
    public enum Target: Sendable, Hashable, CustomStringConvertible {
        /// A `postgres://` URL (or `embedded:DATABASE`), `${ENV}` already filled in.
        case url(String)
        /// A shard of the fleet: its URL, and every row's shard unless the row names one.
        case shard(String)

        public var description: String {
            switch self {
            case .url(let url): return "url \(redactedURL(url))"
            case .shard(let shard): return "shard \(shard)"
            }
        }
    }

    public var target: Target
    public var query: String
    public var location: SourceLocation

    public init(target: Target, query: String, location: SourceLocation) {
        self.target = target
        self.query = query
        self.location = location
    }

    /// The shard every row is on unless it names one.
    public var defaultShard: String? {
        if case .shard(let shard) = target { return shard }
        return nil
    }
}

/// `- discover: {shard: pg-a | shards: [pg-a, pg-b], schemas: "tenant_%" | databases: "tenant_%", id: "{name}",
/// labels: {…}}`: every schema (or database) on the shards whose name matches the `LIKE` pattern is a tenant.
/// PostgreSQL's own schemas, `public` and the control schema are never discovered, nor template databases.
public struct DiscoverySource: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// Schema-per-tenant: schemas of each shard's database.
        case schemas
        /// Database-per-tenant: databases of each shard's server.
        case databases
    }

    public var shards: [String]
    public var kind: Kind
    /// A `LIKE` pattern, e.g. `tenant_%`.
    public var pattern: String
    public var id: TenantIDTemplate
    public var labels: [String: String]
    public var location: SourceLocation

    public init(
        shards: [String], kind: Kind, pattern: String, id: TenantIDTemplate = TenantIDTemplate(),
        labels: [String: String] = [:], location: SourceLocation
    ) {
        self.shards = shards
        self.kind = kind
        self.pattern = pattern
        self.id = id
        self.labels = labels
        self.location = location
    }
}

/// How a discovered schema or database name becomes a tenant id: `{name}` (the name itself), `{name#tenant_}` (the
/// name without the prefix `tenant_`), with text before or after it (`eu-{name#tenant_}`).
public struct TenantIDTemplate: Sendable, Hashable, CustomStringConvertible {
    public var before: String
    /// Taken off the front of the name when the name starts with it.
    public var strip: String
    public var after: String

    public init(before: String = "", strip: String = "", after: String = "") {
        self.before = before
        self.strip = strip
        self.after = after
    }

    /// Reads `{name}`, `{name#prefix}` with text around; nil and the problem when the template is not one of those.
    public static func parse(_ text: String) -> Result<TenantIDTemplate, TemplateProblem> {
        guard let open = text.firstIndex(of: "{") else {
            return .failure(TemplateProblem(message: "has no {name} placeholder"))
        }
        guard let close = text[open...].firstIndex(of: "}") else {
            return .failure(TemplateProblem(message: "has an unterminated '{'"))
        }
        let after = text[text.index(after: close)...]
        if after.contains("{") || after.contains("}") || text[..<open].contains("}") {
            return .failure(TemplateProblem(message: "may hold one placeholder only"))
        }
        let body = text[text.index(after: open)..<close]
        let strip: Substring
        if body == "name" {
            strip = ""
        } else if body.hasPrefix("name#") {
            strip = body.dropFirst("name#".count)
            if strip.isEmpty { return .failure(TemplateProblem(message: "has an empty prefix in {name#}")) }
        } else {
            return .failure(
                TemplateProblem(message: "has an unknown placeholder '{\(body)}' (use {name} or {name#prefix})"))
        }
        return .success(TenantIDTemplate(before: String(text[..<open]), strip: String(strip), after: String(after)))
    }

    /// The tenant id of a schema or database named `name`.
    public func id(for name: String) -> String {
        let core = !strip.isEmpty && name.hasPrefix(strip) ? String(name.dropFirst(strip.count)) : name
        return before + core + after
    }

    public var description: String { before + (strip.isEmpty ? "{name}" : "{name#\(strip)}") + after }

    public struct TemplateProblem: Error, Sendable, Hashable {
        public var message: String
    }
}
