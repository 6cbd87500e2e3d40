import FlotillaLint
import FlotillaModel
import FlotillaPlan
import Logging

/// Changes linted on one tenant's live schema: `flotilla lint --fleet` and rollout's risk gate.
public struct LiveLint: Sendable {
    /// Which tenant the change is judged on.
    public enum Choice: Sendable, Hashable {
        case tenant(Tenant)
        /// Each shard's tenant with the most rows in the touched tables; the change is judged on the largest of them.
        case largest
    }

    /// The judged findings and what they were judged on.
    public struct Outcome: Sendable {
        public var findings: [Finding]
        /// The catalog read, nil when the changes touch no existing table.
        public var schema: LiveSchema?
        /// With `largest`: each shard's largest tenant, most rows first.
        public var candidates: [CatalogReader.Largest]
        /// One line saying which tenant the changes were judged on, and why.
        public var note: String
    }

    public let connections: FleetConnections
    public let logger: Logger

    public init(connections: FleetConnections, logger: Logger) {
        self.connections = connections
        self.logger = logger
    }

    /// Reads the chosen tenant's catalog for the tables `changes` touch and judges their findings on it.
    public func judge(
        _ changes: [Change], tenants: [Tenant], choice: Choice, thresholds: RiskThresholds
    ) async throws -> Outcome {
        var tables: [String] = []
        for table in changes.flatMap(ChangeLint.touchedTables) where !tables.contains(table) { tables.append(table) }
        let staticFindings = changes.flatMap { ChangeLint.findings($0) }
        guard !tables.isEmpty else {
            return Outcome(
                findings: staticFindings, schema: nil, candidates: [],
                note: "the change touches no existing table: nothing to judge on the live schema")
        }
        let reader = CatalogReader(connections: connections, logger: logger)
        let tenant: Tenant
        var candidates: [CatalogReader.Largest] = []
        switch choice {
        case .tenant(let chosen):
            tenant = chosen
        case .largest:
            candidates = try await reader.largest(tenants, tables: tables)
            guard let first = candidates.first else {
                return Outcome(
                    findings: staticFindings, schema: nil, candidates: [],
                    note: "the fleet has no tenants: nothing to judge on the live schema")
            }
            tenant = first.tenant
        }
        let schema = try await reader.read(tenant, tables: tables, countLimit: thresholds.rowsHigh)
        let findings = changes.flatMap { ChangeLint.findings($0, judgedOn: schema, thresholds: thresholds) }
        let sizes = schema.tables.map { "\($0.name) \($0.rows) rows\($0.rowSource == .counted ? " (counted)" : "")" }
        var note =
            "judged on tenant \(tenant.id) (shard \(tenant.shard), \(tenant.placement)"
            + (sizes.isEmpty ? "" : ": \(sizes.joined(separator: ", "))") + ")"
        if candidates.count > 1 {
            let others = candidates.map { "\($0.tenant.id) on \($0.tenant.shard) (\($0.rows) rows)" }
            note += ", the largest of each shard's largest: \(others.joined(separator: ", "))"
        } else if !candidates.isEmpty {
            note += ", the largest tenant in the touched tables"
        }
        return Outcome(findings: findings, schema: schema, candidates: candidates, note: note)
    }
}
