extension Fleet {
    static let keys = ["fleet", "control", "shards", "tenants"]
    static let shardKeys = ["name", "url", "max_parallel"]
    static let tenantKeys = ["id", "shard", "schema", "database", "labels"]
    static let generateKeys = ["count", "id", "shard", "schema", "database", "labels", "start"]
    /// Tenants one `generate:` may make. Generated tenants are expanded in memory when the fleet is read, and every
    /// plan, rollout and census walks them all: a count past this is a typo (an extra zero), not a fleet.
    static let maxGenerated = 100_000
    /// Tenants in one fleet, listed and generated together: a rollout journals a step per tenant and phase, and the
    /// planner and status pages hold them all; fleets larger than this are better split into several fleets.
    static let maxTenants = 200_000

    /// Reads and checks a `fleet.yaml`. `${ENV}` references are filled from `environment`.
    public static func parse(_ text: String, file: String, environment: [String: String]) throws(DefinitionError)
        -> Fleet
    {
        let reader = DefinitionReader(file: file, environment: environment)
        guard let root = try YAMLNode.parse(text, file: file) else {
            throw DefinitionError([
                Diagnostic(
                    at: SourceLocation(file: file, line: 1, column: 1), "the file is empty; expected a fleet definition"
                )
            ])
        }
        let fleet = decode(root, reader: reader)
        try reader.diagnostics.check()
        return fleet!
    }

    static func decode(_ root: YAMLNode, reader: DefinitionReader) -> Fleet? {
        guard
            let object = reader.object(root, "", what: "a fleet", keys: keys, required: ["fleet", "shards", "tenants"])
        else { return nil }
        let name = object.string("fleet") ?? ""
        if object.has("fleet"), !name.isEmpty, let problem = nameProblem(name) {
            reader.error(at: object.location("fleet"), "fleet", "fleet name '\(name)' \(problem)")
        }
        // The embedded control store is for a fleet without `control:`; a `control:` that comes out empty (an unset
        // `${VAR:-}`) is a mistake, not a quiet switch to a local store other machines cannot see.
        var control: String?
        if object.has("control"), let text = object.string("control", allowEmpty: true) {
            if text.trimmingWhitespace().isEmpty {
                reader.error(
                    at: object.location("control"), "control",
                    "control is empty; remove the key to use the embedded PostgreSQL, or give the control store's "
                        + "postgres:// URL")
            } else if let problem = ShardURL.problem(text, embedded: false) {
                reader.error(at: object.location("control"), "control", "control: \(problem)")
            } else {
                control = text
            }
        }

        var shards: [Shard] = []
        for (index, node) in (object.list("shards", what: "shards") ?? []).enumerated() {
            let path = "shards[\(index)]"
            guard let shard = reader.object(node, path, what: "a shard", keys: shardKeys, required: ["name", "url"])
            else { continue }
            guard let name = shard.string("name") else { continue }
            if let problem = nameProblem(name) {
                reader.error(at: shard.location("name"), shard.at("name"), "shard name '\(name)' \(problem)")
            }
            if let previous = shards.first(where: { $0.name == name }) {
                reader.error(
                    at: shard.location("name"), shard.at("name"),
                    "duplicate shard name '\(name)' (first defined at line \(previous.location.line))")
                continue
            }
            let url = shard.string("url") ?? ""
            if !url.isEmpty, let problem = ShardURL.problem(url, embedded: true) {
                reader.error(at: shard.location("url"), shard.at("url"), problem)
            }
            shards.append(
                Shard(
                    name: name, url: url, maxParallel: shard.int("max_parallel", min: 1, max: 10_000),
                    location: node.location))
        }
        if object.has("shards"), shards.isEmpty, !reader.diagnostics.hasErrors {
            reader.error(at: object.location("shards"), "shards", "a fleet needs at least one shard")
        }
        let shardNames = shards.map(\.name)

        var tenants: [Tenant] = []
        var seen: [String: SourceLocation] = [:]
        var placements: [String: String] = [:]
        func add(_ tenant: Tenant, path: String, idLocation: SourceLocation) {
            if let first = seen[tenant.id] {
                reader.error(
                    at: idLocation, path, "duplicate tenant id '\(tenant.id)' (first defined at line \(first.line))")
                return
            }
            let key = "\(tenant.shard)/\(tenant.placement)"
            if let other = placements[key] {
                reader.error(
                    at: idLocation, path,
                    "tenant '\(tenant.id)' uses \(tenant.placement) on shard '\(tenant.shard)', which tenant '\(other)' already uses"
                )
                return
            }
            seen[tenant.id] = tenant.location
            placements[key] = tenant.id
            tenants.append(tenant)
        }
        func checkShard(_ name: String, at location: SourceLocation, _ path: String) -> Bool {
            guard shardNames.contains(name) else {
                let suggestion = closestMatch(to: name, in: shardNames).map { " (did you mean '\($0)'?)" } ?? ""
                reader.error(
                    at: location, path,
                    "shard '\(name)' is not defined\(suggestion) (shards: \(shardNames.joined(separator: ", ")))")
                return false
            }
            return true
        }

        for (index, node) in (object.list("tenants", what: "tenants") ?? []).enumerated() {
            let path = "tenants[\(index)]"
            if case .mapping(let pairs) = node.value, pairs.contains(where: { $0.key.scalar == "generate" }) {
                guard let wrapper = reader.object(node, path, what: "a tenant generator", keys: ["generate"]),
                    let generator = wrapper.object(
                        "generate", what: "a tenant generator", keys: generateKeys, required: ["count", "id", "shard"])
                else { continue }
                decodeGenerator(
                    generator, path: wrapper.at("generate"), reader: reader, tenantsSoFar: tenants.count,
                    checkShard: checkShard, add: add)
                continue
            }
            guard let tenant = reader.object(node, path, what: "a tenant", keys: tenantKeys, required: ["id", "shard"])
            else { continue }
            guard let id = tenant.string("id"), let shard = tenant.string("shard") else { continue }
            if let problem = nameProblem(id) {
                reader.error(at: tenant.location("id"), tenant.at("id"), "tenant id '\(id)' \(problem)")
            }
            let shardOK = checkShard(shard, at: tenant.location("shard"), tenant.at("shard"))
            guard
                let placement = decodePlacement(
                    tenant, path: path, reader: reader, schema: tenant.string("schema"),
                    database: tenant.string("database"))
            else { continue }
            let labels = tenant.has("labels") ? tenant.stringMap("labels", what: "labels") ?? [:] : [:]
            if shardOK {
                add(
                    Tenant(id: id, shard: shard, placement: placement, labels: labels, location: node.location),
                    path: tenant.at("id"), idLocation: tenant.location("id"))
            }
        }
        if tenants.count > maxTenants {
            reader.error(
                at: object.location("tenants"), "tenants",
                "the fleet has \(tenants.count) tenants; a fleet has at most \(maxTenants)")
        }
        if object.has("tenants"), tenants.isEmpty, !reader.diagnostics.hasErrors {
            reader.error(at: object.location("tenants"), "tenants", "a fleet needs at least one tenant")
        }
        return Fleet(
            name: name, control: control, shards: shards, tenants: tenants, file: reader.file, location: root.location)
    }

    static func decodePlacement(
        _ object: ObjectReader, path: String, reader: DefinitionReader, schema: String?, database: String?
    ) -> Tenant.Placement? {
        switch (object.has("schema"), object.has("database")) {
        case (true, true):
            reader.error(
                at: object.location("database"), object.at("database"),
                "a tenant has either 'schema' (schema-per-tenant) or 'database' (database-per-tenant), not both")
            return nil
        case (false, false):
            reader.error(
                object.node, path, "missing 'schema' or 'database': say where the tenant lives on its shard")
            return nil
        case (true, false):
            guard let schema else { return nil }
            if let problem = tenantSchemaProblem(schema) {
                reader.error(at: object.location("schema"), object.at("schema"), "schema name '\(schema)' \(problem)")
                return nil
            }
            return .schema(schema)
        case (false, true):
            guard let database else { return nil }
            if let problem = tenantDatabaseProblem(database) {
                reader.error(
                    at: object.location("database"), object.at("database"), "database name '\(database)' \(problem)")
                return nil
            }
            return .database(database)
        }
    }

    static func decodeGenerator(
        _ generator: ObjectReader, path: String, reader: DefinitionReader, tenantsSoFar: Int,
        checkShard: (String, SourceLocation, String) -> Bool,
        add: (Tenant, String, SourceLocation) -> Void
    ) {
        guard let count = generator.int("count", min: 1, max: maxGenerated), let idPattern = generator.string("id")
        else { return }
        if tenantsSoFar + count > maxTenants {
            reader.error(
                at: generator.location("count"), generator.at("count"),
                "this generator would bring the fleet to \(tenantsSoFar + count) tenants; a fleet has at most "
                    + "\(maxTenants)")
            return
        }
        let start = generator.int("start", min: 0) ?? 1
        guard let shards = generator.stringList("shard", what: "shard names") else { return }
        if shards.isEmpty {
            reader.error(
                at: generator.location("shard"), generator.at("shard"),
                "expected at least one shard name, found an empty list")
            return
        }
        guard shards.allSatisfy({ checkShard($0, generator.location("shard"), generator.at("shard")) }) else { return }
        let labels = generator.has("labels") ? generator.stringMap("labels", what: "labels") ?? [:] : [:]
        let schemaPattern = generator.string("schema")
        let databasePattern = generator.string("database")
        if generator.has("schema"), generator.has("database") {
            reader.error(
                at: generator.location("database"), generator.at("database"),
                "a generator has either 'schema' (schema-per-tenant) or 'database' (database-per-tenant), not both")
            return
        }
        if schemaPattern == nil, databasePattern == nil, !generator.has("schema"), !generator.has("database") {
            reader.error(generator.node, path, "missing 'schema' or 'database' pattern, e.g. schema: \"tenant_{id}\"")
            return
        }
        for pattern in [idPattern, schemaPattern, databasePattern].compactMap({ $0 }) {
            if let problem = GeneratorPattern.problem(pattern) {
                reader.error(generator.node, path, "bad pattern '\(pattern)': \(problem)")
                return
            }
        }
        for offset in 0..<count {
            let n = start + offset
            let id = GeneratorPattern.expand(idPattern, n: n, id: nil)
            if let problem = nameProblem(id) {
                reader.error(at: generator.location("id"), generator.at("id"), "generated tenant id '\(id)' \(problem)")
                return
            }
            let placement: Tenant.Placement
            if let schemaPattern {
                placement = .schema(GeneratorPattern.expand(schemaPattern, n: n, id: id))
            } else {
                placement = .database(GeneratorPattern.expand(databasePattern ?? "", n: n, id: id))
            }
            let problem =
                schemaPattern != nil ? tenantSchemaProblem(placement.name) : tenantDatabaseProblem(placement.name)
            if let problem {
                let key = schemaPattern != nil ? "schema" : "database"
                reader.error(
                    at: generator.location(key), generator.at(key),
                    "generated \(key) name '\(placement.name)' \(problem)")
                return
            }
            add(
                Tenant(
                    id: id, shard: shards[offset % shards.count], placement: placement, labels: labels,
                    location: generator.node.location),
                generator.at("id"), generator.location("id"))
        }
    }
}

/// `t{n:04}` → `t0007`; `tenant_{id}` → `tenant_t0007`.
enum GeneratorPattern {
    static func problem(_ pattern: String) -> String? {
        var rest = Substring(pattern)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { return "unterminated '{'" }
            let body = rest[rest.index(after: open)..<close]
            let name = body.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            guard name == "n" || name == "id" else {
                return "unknown placeholder '{\(body)}' (use {n}, {n:04} or {id})"
            }
            if body.contains(":") {
                let parts = body.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, let width = Int(parts[1]), width >= 0, width <= 20 else {
                    return "bad width in '{\(body)}' (expected e.g. {n:04})"
                }
            }
            rest = rest[rest.index(after: close)...]
        }
        return nil
    }

    static func expand(_ pattern: String, n: Int, id: String?) -> String {
        var output = ""
        var rest = Substring(pattern)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            output += rest[..<open]
            let body = rest[rest.index(after: open)..<close]
            let parts = body.split(separator: ":", maxSplits: 1)
            if parts.first == "id" {
                output += id ?? ""
            } else {
                let digits = String(n)
                let width = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
                output += String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
            rest = rest[rest.index(after: close)...]
        }
        return output + rest
    }
}
