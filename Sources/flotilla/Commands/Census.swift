import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPostgres
import FlotillaServer
import Foundation

extension Flotilla {
    struct Census: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show where every tenant stands, read from the tenants' ledgers.",
            discussion:
                "Exit 0 when the fleet is uniform, 3 when some tenant is behind, drifted or unreachable, 2 when the definitions are invalid."
        )

        @Option(help: "Fleet: a name (fleets/NAME/fleet.yaml), its folder, or its fleet.yaml.")
        var fleet: String

        @Option(help: "Count only this change: an id in the fleet's changes/ (or a unique prefix of one), or a path.")
        var change: String?

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        @Option(help: "Seconds to wait for a shard's server before its tenants count as unreachable.")
        var connectTimeout: Double = 5

        func run() async throws {
            let workspace = currentWorkspace()
            let (fleet, changes, defined) = try loading { () throws(DefinitionError) in
                let fleet = try workspace.loadFleet(self.fleet)
                let ids = workspace.changeIDs(of: fleet)
                var changes: [Change] = []
                if let reference = self.change {
                    changes = [try workspace.loadChange(reference, fleet: fleet)]
                } else {
                    var problems: [Diagnostic] = []
                    for id in ids {
                        do throws(DefinitionError) {
                            changes.append(try workspace.loadChange(id, fleet: fleet))
                        } catch {
                            problems += error.diagnostics
                        }
                    }
                    if !problems.isEmpty { throw DefinitionError(problems) }
                }
                return (fleet, changes, Set(ids).union(changes.map(\.id)))
            }
            let logger = makeLogger()
            let deadlines = ConnectionDeadlines(connect: .milliseconds(Int(max(0.1, connectTimeout) * 1000)))
            let environment = workspace.environment
            let report = try await runtime {
                var embedded: ConnectionURL?
                if fleet.shards.contains(where: { $0.url.hasPrefix("embedded:") }) {
                    embedded = try await Session.startEmbedded(environment: environment, logger: logger).1
                }
                // Registry and discovered tenants are counted too (a bad source: exit 2, an unreachable one: 1).
                let fleet = try await resolveTenants(
                    fleet, environment: environment, embedded: embedded, logger: logger
                ).fleet
                let connections = try FleetConnections(
                    fleet: fleet, embedded: embedded, environment: environment, deadlines: deadlines, logger: logger)
                return try await connections.run {
                    await FlotillaEngine.Census(connections: connections, logger: logger).run(
                        changes: changes, defined: defined)
                }
            }
            switch format {
            case .text: print(CensusRenderer.text(report))
            case .json: print(try CensusRenderer.json(report))
            }
            if !report.isUniform { throw ExitCode(3) }
        }
    }
}

/// `flotilla census` output: a compact table and the outliers for people, a stable JSON document for scripts.
enum CensusRenderer {
    /// How many tenants of each kind the text names before it says "and N more".
    static let named = 10

    static func text(_ report: CensusReport) -> String {
        var lines: [String] = []
        let shards = Set(report.tenants.map(\.tenant.shard)).count
        let summary = TenantStanding.Condition.allCases.map { condition in
            "\(report.tenants(condition).count) \(label(condition))"
        }
        lines.append(
            "fleet \(report.fleet): \(report.tenants.count) tenant\(plural(report.tenants.count)) on \(shards) shard\(plural(shards)) — \(summary.joined(separator: ", "))"
        )
        if report.phases.isEmpty {
            lines.append("no changes defined")
        } else {
            let width = max(20, report.phases.map(\.description.count).max() ?? 0)
            lines.append("")
            lines.append(
                pad("change/phase", width) + "  "
                    + ["applied", "reverted", "not yet", "unknown"].map { pad($0, 8, left: true) }
                    .joined(separator: " "))
            for count in report.counts {
                lines.append(
                    pad(count.phase.description, width) + "  "
                        + [count.applied, count.reverted, count.notYet, count.unknown].map {
                            pad("\($0)", 8, left: true)
                        }
                        .joined(separator: " "))
            }
        }
        if !report.latestHistogram.isEmpty {
            lines.append("")
            lines.append("latest phase applied")
            let width = max(
                20, report.latestHistogram.map { ($0.latest?.description ?? "(no phase)").count }.max() ?? 0)
            for entry in report.latestHistogram.reversed() {
                lines.append(
                    "  " + pad(entry.latest?.description ?? "(no phase)", width) + "  "
                        + pad("\(entry.tenants)", 7, left: true)
                )
            }
        }
        var outliers: [String] = []
        let behind = report.tenants.filter(\.isBehind)
        if !behind.isEmpty {
            outliers.append("behind: \(behind.count)")
            for (shard, tenants) in report.behindByShard {
                outliers.append("  shard \(shard): \(tenants.count)")
                // Tenants that lack the same phases together, the group that lacks the fewest first.
                var groups: [[PhaseRef]: [TenantStanding]] = [:]
                for standing in tenants { groups[standing.missing, default: []].append(standing) }
                let ordered = groups.sorted {
                    ($0.key.count, $0.key.first?.description ?? "") < ($1.key.count, $1.key.first?.description ?? "")
                }
                for (missing, members) in ordered.prefix(named) {
                    let lacks = missing.count > 1 ? "\(missing[0]) +\(missing.count - 1)" : "\(missing[0])"
                    outliers.append("    lack \(lacks) (\(members.count)): " + some(members) { $0.tenant.id })
                }
                if ordered.count > named { outliers.append("    … and \(ordered.count - named) more groups") }
            }
        }
        let drifted = report.tenants.filter(\.isDrifted)
        if !drifted.isEmpty {
            outliers.append("drifted: \(drifted.count) (never touched by converge; restore the definition or revert)")
            for standing in drifted.prefix(named) {
                for drift in standing.drift {
                    outliers.append(
                        "  \(standing.tenant.id): \(drift.phase) ledger \(drift.ledgerChecksum.prefix(12)), definition \(drift.definitionChecksum.prefix(12))"
                    )
                }
            }
            if drifted.count > named { outliers.append("  … and \(drifted.count - named) more") }
        }
        let noLedger = report.withoutLedger
        if !noLedger.isEmpty {
            outliers.append(
                "no ledger: \(noLedger.count): "
                    + some(noLedger) { standing in
                        if case .noLedger(false) = standing.reading {
                            return "\(standing.tenant.id) (\(standing.tenant.placement) does not exist)"
                        }
                        return standing.tenant.id
                    })
        }
        if !report.unreachableShards.isEmpty {
            let count = report.unreachableShards.reduce(0) { $0 + $1.tenants }
            outliers.append("unreachable: \(count)")
            for (problem, tenants) in report.unreachableShards.prefix(named) {
                outliers.append("  \(problem) — \(tenants) tenant\(plural(tenants))")
            }
            if report.unreachableShards.count > named {
                outliers.append("  … and \(report.unreachableShards.count - named) more problems")
            }
        }
        let unknown = report.withUnknownChanges
        if !unknown.isEmpty {
            outliers.append(
                "ledger names a change the fleet does not define: \(unknown.count): "
                    + some(unknown) { "\($0.tenant.id) (\($0.unknownChanges.joined(separator: ", ")))" })
        }
        if !outliers.isEmpty {
            lines.append("")
            lines += outliers
        }
        lines.append("")
        if report.isUniform {
            lines.append("the fleet is uniform")
        } else if !behind.isEmpty {
            lines.append(
                "\(behind.count) tenant\(plural(behind.count)) behind — flotilla converge --fleet \(report.fleet) brings them up to the phases the fleet has reached"
            )
            lines.append("(while a rollout is under way, the tenants it has not reached yet count as behind)")
        } else {
            lines.append("the fleet is not uniform")
        }
        return lines.map(terminalSafe).joined(separator: "\n")
    }

    private static func label(_ condition: TenantStanding.Condition) -> String {
        switch condition {
        case .current: return "current"
        case .behind: return "behind"
        case .drifted: return "drifted"
        case .unreachable: return "unreachable"
        }
    }

    private static func plural(_ count: Int) -> String { count == 1 ? "" : "s" }

    private static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return left ? fill + text : text + fill
    }

    /// The first few, then "… and N more".
    private static func some(_ standings: [TenantStanding], _ describe: (TenantStanding) -> String) -> String {
        let shown = standings.prefix(named).map(describe).joined(separator: ", ")
        return standings.count > named ? shown + ", … and \(standings.count - named) more" : shown
    }

    // MARK: JSON

    struct Document: Encodable {
        var fleet: String
        var uniform: Bool
        var tenants: Int
        var summary: Summary
        var phases: [PhaseEntry]
        var latest: [LatestEntry]
        var behind: [ShardBehind]
        var drifted: [DriftedTenant]
        var noLedger: [NoLedger]
        var unreachable: [Unreachable]
        var unknownChanges: [UnknownChanges]
    }

    struct Summary: Encodable {
        var current: Int
        var behind: Int
        var drifted: Int
        var unreachable: Int
        var noLedger: Int
        var unknownChange: Int
    }

    struct PhaseEntry: Encodable {
        var change: String
        var phase: String
        var applied: Int
        var reverted: Int
        var notYet: Int
        var unknown: Int
    }

    /// `change` and `phase` are null for tenants with no phase applied (written out, so the keys never vary).
    struct LatestEntry: Encodable {
        var change: String?
        var phase: String?
        var tenants: Int

        enum CodingKeys: String, CodingKey { case change, phase, tenants }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(change, forKey: .change)
            try container.encode(phase, forKey: .phase)
            try container.encode(tenants, forKey: .tenants)
        }
    }

    struct ShardBehind: Encodable {
        var shard: String
        var tenants: [BehindTenant]
    }

    struct BehindTenant: Encodable {
        var id: String
        var missing: [String]
    }

    struct DriftedTenant: Encodable {
        var id: String
        var shard: String
        var drift: [DriftEntry]
    }

    struct DriftEntry: Encodable {
        var change: String
        var phase: String
        var ledgerChecksum: String
        var definitionChecksum: String
    }

    struct NoLedger: Encodable {
        var id: String
        var shard: String
        /// `schema` or `database`.
        var placement: String
        var name: String
        /// Whether the schema (or database) itself exists.
        var exists: Bool
    }

    struct Unreachable: Encodable {
        var shard: String
        var endpoint: String
        var error: String
        var tenants: [String]
    }

    struct UnknownChanges: Encodable {
        var id: String
        var shard: String
        var changes: [String]
    }

    static func document(_ report: CensusReport) -> Document {
        var unreachable: [ShardProblem: [String]] = [:]
        for standing in report.tenants {
            if case .unreachable(let problem) = standing.reading {
                unreachable[problem, default: []].append(standing.tenant.id)
            }
        }
        return Document(
            fleet: report.fleet, uniform: report.isUniform, tenants: report.tenants.count,
            summary: Summary(
                current: report.tenants(.current).count, behind: report.tenants(.behind).count,
                drifted: report.tenants(.drifted).count, unreachable: report.tenants(.unreachable).count,
                noLedger: report.withoutLedger.count, unknownChange: report.withUnknownChanges.count),
            phases: report.counts.map {
                PhaseEntry(
                    change: $0.phase.change, phase: $0.phase.phase, applied: $0.applied, reverted: $0.reverted,
                    notYet: $0.notYet, unknown: $0.unknown)
            },
            latest: report.latestHistogram.map {
                LatestEntry(change: $0.latest?.change, phase: $0.latest?.phase, tenants: $0.tenants)
            },
            behind: report.behindByShard.map { shard, tenants in
                ShardBehind(
                    shard: shard,
                    tenants: tenants.map { BehindTenant(id: $0.tenant.id, missing: $0.missing.map(\.description)) })
            },
            drifted: report.tenants.filter(\.isDrifted).map { standing in
                DriftedTenant(
                    id: standing.tenant.id, shard: standing.tenant.shard,
                    drift: standing.drift.map {
                        DriftEntry(
                            change: $0.phase.change, phase: $0.phase.phase, ledgerChecksum: $0.ledgerChecksum,
                            definitionChecksum: $0.definitionChecksum)
                    })
            },
            noLedger: report.withoutLedger.map { standing in
                let (kind, name): (String, String) =
                    switch standing.tenant.placement {
                    case .schema(let name): ("schema", name)
                    case .database(let name): ("database", name)
                    }
                var exists = true
                if case .noLedger(let placementExists) = standing.reading { exists = placementExists }
                return NoLedger(
                    id: standing.tenant.id, shard: standing.tenant.shard, placement: kind, name: name, exists: exists)
            },
            unreachable: report.unreachableShards.map { problem, _ in
                Unreachable(
                    shard: problem.shard, endpoint: problem.endpoint, error: problem.error,
                    tenants: unreachable[problem] ?? [])
            },
            unknownChanges: report.withUnknownChanges.map {
                UnknownChanges(id: $0.tenant.id, shard: $0.tenant.shard, changes: $0.unknownChanges)
            })
    }

    static func json(_ report: CensusReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(document(report)), as: UTF8.self)
    }
}
