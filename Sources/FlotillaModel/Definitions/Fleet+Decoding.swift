extension Fleet {
    static let keys = ["fleet", "control", "shards", "tenants", "notify"]
    static let shardKeys = ["name", "url", "max_parallel"]
    static let tenantKeys = ["id", "shard", "schema", "database", "labels"]
    static let generateKeys = ["count", "id", "shard", "schema", "database", "labels", "start"]
    /// Tenants one `generate:` may make. Generated tenants are expanded in memory when the fleet is read, and every
    /// plan, rollout and census walks them all: a count past this is a typo (an extra zero), not a fleet.
    static let maxGenerated = 100_000
    /// Tenants in one fleet, listed and generated together: a rollout journals a step per tenant and phase, and the
    /// planner and status pages hold them all; fleets larger than this are better split into several fleets.
    public static let maxTenants = 200_000

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

        let items = object.list("tenants", what: "tenants") ?? []
        let expected = expectedTenantCount(items)
        var tenants: [Tenant] = []
        // The line each id was first given on, and the tenant in each place.
        var seen: [String: Int] = [:]
        var placements: [PlacementKey: String] = [:]
        tenants.reserveCapacity(expected)
        seen.reserveCapacity(expected)
        placements.reserveCapacity(expected)
        /// `shard`: the index of the tenant's shard among the fleet's.
        func add(_ tenant: consuming Tenant, shard: Int, path: @autoclosure () -> String, idLocation: SourceLocation) {
            // Each table is looked up once: the first id or placement is put back when this one repeats it.
            if let first = seen.updateValue(tenant.location.line, forKey: tenant.id) {
                seen[tenant.id] = first
                reader.error(
                    at: idLocation, path(), "duplicate tenant id '\(tenant.id)' (first defined at line \(first))")
                return
            }
            let key = PlacementKey(shard: shard, placement: tenant.placement)
            if let other = placements.updateValue(tenant.id, forKey: key) {
                placements[key] = other
                seen[tenant.id] = nil
                reader.error(
                    at: idLocation, path(),
                    "tenant '\(tenant.id)' uses \(tenant.placement) on shard '\(tenant.shard)', which tenant '\(other)' already uses"
                )
                return
            }
            tenants.append(tenant)
        }
        let shardIndex = Dictionary(shardNames.enumerated().map { ($1, $0) }) { first, _ in first }
        /// The index of the shard named `name`, or nil (reported) when the fleet has none of that name.
        func checkShard(_ name: String, at location: SourceLocation, _ path: @autoclosure () -> String) -> Int? {
            guard let index = shardIndex[name] else {
                let suggestion = closestMatch(to: name, in: shardNames).map { " (did you mean '\($0)'?)" } ?? ""
                reader.error(
                    at: location, path(),
                    "shard '\(name)' is not defined\(suggestion) (shards: \(shardNames.joined(separator: ", ")))")
                return nil
            }
            return index
        }

        var sources: [TenantSource] = []
        for (index, node) in items.enumerated() {
            if case .mapping(let pairs) = node.value,
                let key = sourceKeys.first(where: { key in pairs.contains { $0.key.isKey(key) } })
            {
                if let source = decodeSource(
                    node, key: key, index: index, reader: reader, checkShard: { checkShard($0, at: $1, $2()) })
                {
                    sources.append(source)
                }
                continue
            }
            if case .mapping(let pairs) = node.value, pairs.contains(where: { $0.key.isKey("generate") }) {
                guard
                    let wrapper = reader.object(
                        node, "tenants", index: index, what: "a tenant generator", keys: ["generate"]),
                    let generator = wrapper.object(
                        "generate", what: "a tenant generator", keys: generateKeys, required: ["count", "id", "shard"])
                else { continue }
                decodeGenerator(
                    generator, path: wrapper.at("generate"), reader: reader, tenantsSoFar: tenants.count,
                    checkShard: checkShard, add: add)
                continue
            }
            guard
                let tenant = reader.object(
                    node, "tenants", index: index, what: "a tenant", keys: tenantKeys, required: ["id", "shard"])
            else { continue }
            guard let id = tenant.string("id"), let shard = tenant.string("shard") else { continue }
            if let problem = checkedName(id) {
                reader.error(at: tenant.location("id"), tenant.at("id"), "tenant id '\(id)' \(problem)")
            }
            let shardFound = checkShard(shard, at: tenant.location("shard"), tenant.at("shard"))
            guard
                let placement = decodePlacement(
                    tenant, path: tenant.path, reader: reader, schema: tenant.string("schema"),
                    database: tenant.string("database"))
            else { continue }
            let labels = tenant.has("labels") ? tenant.stringMap("labels", what: "labels") ?? [:] : [:]
            if let shardFound {
                add(
                    Tenant(id: id, shard: shard, placement: placement, labels: labels, location: node.location),
                    shard: shardFound, path: tenant.at("id"), idLocation: tenant.location("id"))
            }
        }
        if tenants.count > maxTenants {
            reader.error(
                at: object.location("tenants"), "tenants",
                "the fleet has \(tenants.count) tenants; a fleet has at most \(maxTenants)")
        }
        if object.has("tenants"), tenants.isEmpty, sources.isEmpty, !reader.diagnostics.hasErrors {
            reader.error(at: object.location("tenants"), "tenants", "a fleet needs at least one tenant")
        }
        var fleet = Fleet(
            name: name, control: control, shards: shards, tenants: tenants, sources: sources, file: reader.file,
            location: root.location)
        if let node = object.node("notify") { fleet.notify = Notify.decodeAll(node, path: "notify", reader: reader) }
        return fleet
    }

    static func decodePlacement(
        _ object: ObjectReader, path: @autoclosure () -> String, reader: DefinitionReader, schema: String?,
        database: String?
    ) -> Tenant.Placement? {
        switch (object.has("schema"), object.has("database")) {
        case (true, true):
            reader.error(
                at: object.location("database"), object.at("database"),
                "a tenant has either 'schema' (schema-per-tenant) or 'database' (database-per-tenant), not both")
            return nil
        case (false, false):
            reader.error(
                object.node, path(), "missing 'schema' or 'database': say where the tenant lives on its shard")
            return nil
        case (true, false):
            guard let schema else { return nil }
            if let problem = checkedSchemaName(schema) {
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
        checkShard: (String, SourceLocation, @autoclosure () -> String) -> Int?,
        add: (Tenant, Int, @autoclosure () -> String, SourceLocation) -> Void
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
        // Stops at the first shard the fleet does not have (reported).
        var shardIndices: [Int] = []
        for shard in shards {
            guard let index = checkShard(shard, generator.location("shard"), generator.at("shard")) else { return }
            shardIndices.append(index)
        }
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
        let ids = GeneratorPattern.Compiled(idPattern)
        let schemas = schemaPattern.map(GeneratorPattern.Compiled.init)
        let databases = GeneratorPattern.Compiled(databasePattern ?? "")
        for offset in 0..<count {
            let n = start + offset
            let id = ids.expand(n: n, id: nil)
            if let problem = checkedName(id) {
                reader.error(at: generator.location("id"), generator.at("id"), "generated tenant id '\(id)' \(problem)")
                return
            }
            let placement: Tenant.Placement
            if let schemas {
                placement = .schema(schemas.expand(n: n, id: id))
            } else {
                placement = .database(databases.expand(n: n, id: id))
            }
            let problem =
                schemaPattern != nil ? checkedSchemaName(placement.name) : tenantDatabaseProblem(placement.name)
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
                shardIndices[offset % shards.count], generator.at("id"), generator.location("id"))
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
        Compiled(pattern).expand(n: n, id: id)
    }

    /// A pattern split once into its text and placeholders, to expand for many tenants.
    struct Compiled {
        enum Piece {
            case text(String)
            case id
            case n(width: Int)
        }

        var pieces: [Piece] = []

        init(_ pattern: String) {
            var rest = Substring(pattern)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                if open > rest.startIndex { pieces.append(.text(String(rest[..<open]))) }
                let body = rest[rest.index(after: open)..<close]
                let parts = body.split(separator: ":", maxSplits: 1)
                if parts.first == "id" {
                    pieces.append(.id)
                } else {
                    pieces.append(.n(width: parts.count > 1 ? Int(parts[1]) ?? 0 : 0))
                }
                rest = rest[rest.index(after: close)...]
            }
            if !rest.isEmpty { pieces.append(.text(String(rest))) }
        }

        func expand(n: Int, id: String?) -> String {
            var output = ""
            for piece in pieces {
                switch piece {
                case .text(let text): output += text
                case .id: output += id ?? ""
                case .n(let width):
                    let digits = String(n)
                    if width > digits.utf8.count {
                        output += String(repeating: "0", count: width - digits.utf8.count)
                    }
                    output += digits
                }
            }
            return output
        }
    }
}

/// Where a tenant lives, as a key: two tenants never share one.
struct PlacementKey: Hashable {
    /// The shard's index among the fleet's shards.
    var shard: Int
    var placement: Tenant.Placement
}

extension Fleet {
    /// How many tenants the list will make (its generators' counts, as written), to size the tables once.
    static func expectedTenantCount(_ items: [YAMLNode]) -> Int {
        var count = 0
        for item in items {
            // A hint only: a generator is a mapping of one key.
            guard case .mapping(let pairs) = item.value, pairs.count == 1, pairs[0].key.isKey("generate"),
                case .mapping(let settings) = pairs[0].value.value,
                let written = settings.first(where: { $0.key.scalar == "count" })?.value.scalar,
                let generated = Int(written)
            else {
                count += 1
                continue
            }
            count += min(max(generated, 0), maxGenerated)
        }
        return min(count, maxTenants + maxGenerated)
    }

    /// `nameProblem`, answered without looking at characters one by one when the name is plain ASCII of the
    /// allowed kind (letters, digits, `-`, `_`, `.`; at most 100), as nearly every name is.
    public static func checkedName(_ name: String) -> String? {
        var name = name
        let plain = name.withUTF8 { bytes in
            !bytes.isEmpty && bytes.count <= 100 && bytes.allSatisfy { byteKinds[Int($0)] & nameByte != 0 }
        }
        return plain ? nil : nameProblem(name)
    }

    /// What each byte may be in a name (`nameByte`) and in a schema name (`identifierByte`, `identifierStart`).
    static let byteKinds: [UInt8] = (0...255).map { value in
        let byte = UInt8(value)
        let letter = isLetterByte(byte)
        let digit = isDigitByte(byte)
        let underscore = byte == UInt8(ascii: "_")
        var kind: UInt8 = 0
        if letter || digit || underscore || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") { kind |= nameByte }
        if letter || digit || underscore { kind |= identifierByte }
        if letter || underscore { kind |= identifierStart }
        return kind
    }
    static let nameByte: UInt8 = 1
    static let identifierByte: UInt8 = 2
    static let identifierStart: UInt8 = 4

    /// `tenantSchemaProblem`, answered from the bytes when the name is plain ASCII letters, digits and `_`,
    /// starting with a letter or `_`, at most 63 bytes, and none of the names it refuses; anything else, and those
    /// names, get the full check and its message.
    public static func checkedSchemaName(_ name: String) -> String? {
        var name = name
        let plain = name.withUTF8 { bytes in
            guard let first = bytes.first, bytes.count <= 63, byteKinds[Int(first)] & identifierStart != 0,
                bytes.allSatisfy({ byteKinds[Int($0)] & identifierByte != 0 })
            else { return false }
            // Not `pg_…`, in any case, nor one of the refused names.
            if bytes.count >= 3, bytes[0] | 0x20 == UInt8(ascii: "p"), bytes[1] | 0x20 == UInt8(ascii: "g"),
                bytes[2] == UInt8(ascii: "_")
            {
                return false
            }
            return !refusedSchemaNames.contains { equalIgnoringCase(bytes, $0) }
        }
        return plain ? nil : tenantSchemaProblem(name)
    }

    /// Names `tenantSchemaProblem` refuses whatever their case, besides those starting with `pg_`.
    static let refusedSchemaNames = ["flotilla", "public", "information_schema"]

    /// Equal when ASCII letters' case is ignored; both are ASCII letters, digits and `_`.
    static func equalIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ name: String) -> Bool {
        guard bytes.count == name.utf8.count else { return false }
        for (byte, other) in zip(bytes, name.utf8) where byte | 0x20 != other | 0x20 { return false }
        return true
    }

    static func isLetterByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    static func isDigitByte(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
}
