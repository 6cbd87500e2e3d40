import FlotillaModel
import Testing

/// `from:` and `discover:` items of `tenants:` are read and checked without connecting anywhere.
@Suite("Tenant source decoding")
struct TenantSourceDecodingTests {
    /// A fleet of two shards (lines 1–5) whose `tenants:` items start on line 6.
    static func fleetText(_ items: [String]) -> String {
        ([
            "fleet: f",  // 1
            "shards:",  // 2
            "  - {name: pg-a, url: \"postgres://app@db-a/tenants\"}",  // 3
            "  - {name: pg-b, url: \"embedded:b\"}",  // 4
            "tenants:",  // 5
        ] + items).joined(separator: "\n") + "\n"
    }

    static func parse(_ items: [String], environment: [String: String] = [:]) throws(DefinitionError) -> Fleet {
        try Fleet.parse(fleetText(items), file: "fleet.yaml", environment: environment)
    }

    @Test("a fleet of sources only is valid; its tenants come when the sources are resolved")
    func sourcesOnly() throws {
        let fleet = try Self.parse(
            [
                "  - from: {url: \"${REGISTRY}\", query: \"SELECT id, shard, schema FROM public.tenants WHERE active\"}",
                "  - from:",
                "      shard: pg-a",
                "      query: SELECT id, schema, labels FROM public.customers",
                "  - discover: {shard: pg-a, schemas: \"tenant_%\", id: \"{name#tenant_}\", labels: {tier: free}}",
                "  - discover: {shards: [pg-a, pg-b], databases: \"db_%\"}",
            ], environment: ["REGISTRY": "postgres://reader:secret@catalog/registry"])
        #expect(fleet.tenants.isEmpty)
        #expect(fleet.sources.count == 4)
        guard fleet.sources.count == 4 else { return }
        #expect(
            fleet.sources[0]
                == .registry(
                    RegistrySource(
                        target: .url("postgres://reader:secret@catalog/registry"),
                        query: "SELECT id, shard, schema FROM public.tenants WHERE active",
                        location: SourceLocation(file: "fleet.yaml", line: 6, column: 5))))
        #expect(
            fleet.sources[1]
                == .registry(
                    RegistrySource(
                        target: .shard("pg-a"), query: "SELECT id, schema, labels FROM public.customers",
                        location: SourceLocation(file: "fleet.yaml", line: 7, column: 5))))
        #expect(
            fleet.sources[2]
                == .discovery(
                    DiscoverySource(
                        shards: ["pg-a"], kind: .schemas, pattern: "tenant_%", id: TenantIDTemplate(strip: "tenant_"),
                        labels: ["tier": "free"], location: SourceLocation(file: "fleet.yaml", line: 10, column: 5))))
        #expect(
            fleet.sources[3]
                == .discovery(
                    DiscoverySource(
                        shards: ["pg-a", "pg-b"], kind: .databases, pattern: "db_%",
                        location: SourceLocation(file: "fleet.yaml", line: 11, column: 5))))
        #expect(fleet.sources[1].description == "from: at fleet.yaml:7:5")
        #expect(fleet.sources[2].description == "discover: at fleet.yaml:10:5")
        // The password never shows in a source's target.
        if case .registry(let registry) = fleet.sources[0] {
            #expect(!registry.target.description.contains("secret"))
        }
    }

    @Test("listed and generated tenants stay, beside the sources")
    func besideListed() throws {
        let fleet = try Self.parse([
            "  - {id: acme, shard: pg-a, schema: tenant_acme}",
            "  - from: {shard: pg-b, query: \"SELECT id, schema FROM tenants\"}",
            "  - generate: {count: 3, id: \"t{n}\", shard: pg-b, schema: \"tenant_{id}\"}",
        ])
        #expect(fleet.tenants.map(\.id) == ["acme", "t1", "t2", "t3"])
        #expect(fleet.sources.map(\.key) == ["from"])
    }

    @Test(
        "id templates",
        arguments: [
            ("{name}", "tenant_acme", "tenant_acme"), ("{name#tenant_}", "tenant_acme", "acme"),
            ("{name#tenant_}", "customer_acme", "customer_acme"), ("eu-{name#tenant_}", "tenant_acme", "eu-acme"),
            ("{name}-x", "acme", "acme-x"),
        ])
    func templates(_ template: String, _ name: String, _ id: String) throws {
        let parsed = try TenantIDTemplate.parse(template).get()
        #expect(parsed.id(for: name) == id)
        #expect(parsed.description == template)
    }

    /// A bad source: its items, the line and column of the problem, and a fragment of the message.
    struct Bad: Sendable, CustomTestStringConvertible {
        var name: String
        var items: [String]
        var line: Int
        var column: Int
        var says: String
        var testDescription: String { name }
    }

    static let bad: [Bad] = [
        Bad(
            name: "unknown key", items: ["  - from: {shard: pg-a, query: \"SELECT 1\", querry: x}"], line: 6,
            column: 44, says: "unknown key 'querry' in a registry source (did you mean 'query'?)"),
        Bad(
            name: "both url and shard",
            items: ["  - from: {url: \"postgres://h/db\", shard: pg-a, query: \"SELECT 1\"}"], line: 6, column: 43,
            says: "either 'url'"),
        Bad(
            name: "neither url nor shard", items: ["  - from: {query: \"SELECT 1\"}"], line: 6, column: 11,
            says: "missing 'url' or 'shard'"),
        Bad(
            name: "shard not defined", items: ["  - from: {shard: pg-c, query: \"SELECT 1\"}"], line: 6, column: 19,
            says: "shard 'pg-c' is not defined"),
        Bad(
            name: "empty query", items: ["  - from: {shard: pg-a, query: \"  \"}"], line: 6, column: 32,
            says: "expected a non-empty query"),
        Bad(
            name: "missing query", items: ["  - from: {shard: pg-a}"], line: 6, column: 11,
            says: "missing required key 'query'"),
        Bad(
            name: "bad url", items: ["  - from: {url: \"mysql://h/db\", query: \"SELECT 1\"}"], line: 6, column: 17,
            says: "expected a postgres:// URL"),
        Bad(
            name: "another key beside from", items: ["  - from: {shard: pg-a, query: \"SELECT 1\"}", "    id: x"],
            line: 7, column: 5, says: "unknown key 'id' in a registry source"),
        Bad(
            name: "discover: both shard and shards",
            items: ["  - discover: {shard: pg-a, shards: [pg-b], schemas: \"t_%\"}"], line: 6, column: 37,
            says: "either 'shard' (one) or 'shards'"),
        Bad(
            name: "discover: no shard", items: ["  - discover: {schemas: \"t_%\"}"], line: 6, column: 15,
            says: "missing 'shard' or 'shards'"),
        Bad(
            name: "discover: shard not defined", items: ["  - discover: {shards: [pg-a, pg-x], schemas: \"t_%\"}"],
            line: 6, column: 24, says: "shard 'pg-x' is not defined"),
        Bad(
            name: "discover: empty shards", items: ["  - discover: {shards: [], schemas: \"t_%\"}"], line: 6,
            column: 24, says: "expected at least one shard name"),
        Bad(
            name: "discover: schemas and databases",
            items: ["  - discover: {shard: pg-a, schemas: \"t_%\", databases: \"d_%\"}"], line: 6, column: 56,
            says: "either 'schemas' (schema-per-tenant) or 'databases'"),
        Bad(
            name: "discover: neither schemas nor databases", items: ["  - discover: {shard: pg-a}"], line: 6,
            column: 15, says: "missing 'schemas' or 'databases'"),
        Bad(
            name: "discover: id without a placeholder",
            items: ["  - discover: {shard: pg-a, schemas: \"t_%\", id: \"tenant\"}"], line: 6, column: 49,
            says: "id template 'tenant' has no {name} placeholder"),
        Bad(
            name: "discover: unknown placeholder",
            items: ["  - discover: {shard: pg-a, schemas: \"t_%\", id: \"{n}\"}"], line: 6, column: 49,
            says: "unknown placeholder '{n}'"),
        Bad(
            name: "discover: two placeholders",
            items: ["  - discover: {shard: pg-a, schemas: \"t_%\", id: \"{name}{name}\"}"], line: 6, column: 49,
            says: "one placeholder only"),
        Bad(
            name: "discover: labels not a mapping",
            items: ["  - discover: {shard: pg-a, schemas: \"t_%\", labels: [a]}"], line: 6, column: 53,
            says: "expected labels"),
        Bad(
            name: "discover: unknown key", items: ["  - discover: {shard: pg-a, schema: \"t_%\"}"], line: 6,
            column: 29, says: "unknown key 'schema' in a discovery source (did you mean 'schemas'?)"),
    ]

    @Test("a bad source is an error at its place", arguments: bad)
    func badSource(_ bad: Bad) {
        do {
            let fleet = try Self.parse(bad.items)
            Issue.record("expected an error, read \(fleet.sources)")
        } catch {
            let match = error.diagnostics.first { $0.message.contains(bad.says) }
            #expect(match != nil, "\(error)")
            #expect(
                match.map { "\($0.location.line):\($0.location.column)" } == "\(bad.line):\(bad.column)", "\(error)")
        }
    }

    @Test("the JSON Schema knows the source items")
    func schema() {
        let text = DefinitionSchema.document.rendered()
        for key in ["\"from\"", "\"discover\"", "\"query\"", "\"databases\"", "\"schemas\""] {
            #expect(text.contains(key), "\(key)")
        }
    }
}
