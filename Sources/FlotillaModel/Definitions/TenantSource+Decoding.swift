extension Fleet {
    /// The keys that make a `tenants:` item a source instead of a tenant.
    static let sourceKeys = ["from", "discover"]
    static let registryKeys = ["url", "shard", "query"]
    static let discoveryKeys = ["shard", "shards", "schemas", "databases", "id", "labels"]

    /// Reads a `- from: {…}` or `- discover: {…}` item of `tenants:`, checking its shape only: nothing connects.
    /// `checkShard` reports a shard the fleet does not define and answers nil for it.
    static func decodeSource(
        _ node: YAMLNode, key: String, index: Int, reader: DefinitionReader,
        checkShard: (String, SourceLocation, @autoclosure () -> String) -> Int?
    ) -> TenantSource? {
        let what = key == "from" ? "a registry source" : "a discovery source"
        guard let wrapper = reader.object(node, "tenants", index: index, what: what, keys: [key]) else { return nil }
        let problemsBefore = reader.diagnostics.errors.count
        let source: TenantSource?
        if key == "from" {
            guard let object = wrapper.object(key, what: what, keys: registryKeys, required: ["query"]) else {
                return nil
            }
            source = decodeRegistry(object, location: node.location, reader: reader, checkShard: checkShard)
        } else {
            guard let object = wrapper.object(key, what: what, keys: discoveryKeys) else { return nil }
            source = decodeDiscovery(object, location: node.location, reader: reader, checkShard: checkShard)
        }
        // A source with a problem anywhere in it is left out, so that nothing resolves half a source.
        return reader.diagnostics.errors.count == problemsBefore ? source : nil
    }

    static func decodeRegistry(
        _ object: ObjectReader, location: SourceLocation, reader: DefinitionReader,
        checkShard: (String, SourceLocation, @autoclosure () -> String) -> Int?
    ) -> TenantSource? {
        let target: RegistrySource.Target
        switch (object.has("url"), object.has("shard")) {
        case (true, true):
            reader.error(
                at: object.location("shard"), object.at("shard"),
                "a registry source names either 'url' (the registry's own database) or 'shard' (a shard of the "
                    + "fleet), not both")
            return nil
        case (false, false):
            reader.error(
                object.node, object.path,
                "missing 'url' or 'shard': say where the registry table is, e.g. shard: pg-a or url: postgres://…")
            return nil
        case (true, false):
            guard let url = object.string("url") else { return nil }
            if let problem = ShardURL.problem(url, embedded: true) {
                reader.error(at: object.location("url"), object.at("url"), problem)
                return nil
            }
            target = .url(url)
        case (false, true):
            guard let shard = object.string("shard") else { return nil }
            guard checkShard(shard, object.location("shard"), object.at("shard")) != nil else { return nil }
            target = .shard(shard)
        }
        guard let query = object.string("query") else { return nil }
        if query.trimmingWhitespace().isEmpty {
            reader.error(
                at: object.location("query"), object.at("query"),
                "expected a non-empty query, e.g. \"SELECT id, shard, schema, labels FROM public.tenants\"")
            return nil
        }
        return .registry(RegistrySource(target: target, query: query, location: location))
    }

    static func decodeDiscovery(
        _ object: ObjectReader, location: SourceLocation, reader: DefinitionReader,
        checkShard: (String, SourceLocation, @autoclosure () -> String) -> Int?
    ) -> TenantSource? {
        var shards: [String] = []
        switch (object.has("shard"), object.has("shards")) {
        case (true, true):
            reader.error(
                at: object.location("shards"), object.at("shards"),
                "a discovery source names either 'shard' (one) or 'shards' (a list), not both")
            return nil
        case (false, false):
            reader.error(
                object.node, object.path, "missing 'shard' or 'shards': say which shards to look on, e.g. shard: pg-a")
            return nil
        case (true, false):
            guard let shard = object.string("shard") else { return nil }
            shards = [shard]
        case (false, true):
            guard let list = object.stringList("shards", what: "shard names") else { return nil }
            if list.isEmpty {
                reader.error(
                    at: object.location("shards"), object.at("shards"),
                    "expected at least one shard name, found an empty list")
                return nil
            }
            shards = list
        }
        let shardKey = object.has("shard") ? "shard" : "shards"
        var seen = Set<String>()
        for shard in shards {
            guard checkShard(shard, object.location(shardKey), object.at(shardKey)) != nil else { return nil }
            if !seen.insert(shard).inserted {
                reader.error(
                    at: object.location(shardKey), object.at(shardKey), "shard '\(shard)' is named twice")
                return nil
            }
        }

        let kind: DiscoverySource.Kind
        switch (object.has("schemas"), object.has("databases")) {
        case (true, true):
            reader.error(
                at: object.location("databases"), object.at("databases"),
                "a discovery source finds either 'schemas' (schema-per-tenant) or 'databases' (database-per-tenant), "
                    + "not both")
            return nil
        case (false, false):
            reader.error(
                object.node, object.path,
                "missing 'schemas' or 'databases': a LIKE pattern of the names to discover, e.g. schemas: \"tenant_%\"")
            return nil
        case (true, false): kind = .schemas
        case (false, true): kind = .databases
        }
        guard let pattern = object.string(kind.rawValue) else { return nil }

        var template = TenantIDTemplate()
        if object.has("id") {
            guard let text = object.string("id") else { return nil }
            switch TenantIDTemplate.parse(text) {
            case .success(let parsed): template = parsed
            case .failure(let problem):
                reader.error(
                    at: object.location("id"), object.at("id"),
                    "id template '\(text)' \(problem.message); expected e.g. \"{name}\" or \"{name#tenant_}\"")
                return nil
            }
        }
        let labels = object.has("labels") ? object.stringMap("labels", what: "labels") ?? [:] : [:]
        return .discovery(
            DiscoverySource(
                shards: shards, kind: kind, pattern: pattern, id: template, labels: labels, location: location))
    }
}
