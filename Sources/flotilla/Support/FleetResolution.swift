import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import FlotillaServer
import Foundation
import Logging

/// Resolves a fleet's tenant sources (`from:` registry queries, `discover:` on shards) for a command that needs its
/// tenants. A fleet without sources comes back as it is, and nothing connects anywhere.
///
/// A source with a bad row (or a bad URL) prints every problem as `fleet.yaml:line:col: error: from: tenant 'x': …`
/// and exits 2; a registry or shard that cannot be reached or queried prints the same way and exits 1. Nothing is
/// written anywhere: registry queries run read-only, discovery reads the catalogs.
///
/// `embedded`: the embedded PostgreSQL's URL when the caller has it running; otherwise it is started here when a
/// source needs it (an `embedded:` shard or registry).
func resolveTenants(
    _ fleet: Fleet, environment: [String: String], embedded: ConnectionURL? = nil, logger: Logger
) async throws -> ResolvedFleet {
    do {
        return try await resolveTenantSources(fleet, environment: environment, embedded: embedded, logger: logger)
    } catch let error as TenantSourceErrors {
        for problem in error.errors { printError(terminalSafe(problem.description)) }
        if error.more > 0 { printError("… and \(error.more) more") }
        let count = error.errors.count + error.more
        printError(
            "\(count) problem\(count == 1 ? "" : "s") with the tenant sources of fleet \(fleet.name); nothing was "
                + "changed")
        throw ExitCode(error.errors.contains(where: \.isDefinitionProblem) ? 2 : 1)
    } catch let error as ShardError {
        // A shard's URL that cannot be used (its password never printed), or an embedded one with no server.
        printError(terminalSafe("error: \(error)"))
        throw ExitCode(1)
    }
}

/// Resolves the sources (starting the embedded PostgreSQL when one needs it); a problem throws `TenantSourceErrors`.
func resolveTenantSources(
    _ fleet: Fleet, environment: [String: String], embedded: ConnectionURL? = nil, logger: Logger
) async throws -> ResolvedFleet {
    guard !fleet.sources.isEmpty else { return ResolvedFleet(unresolved: fleet) }
    var embedded = embedded
    if embedded == nil, TenantSources.needsEmbedded(fleet) {
        embedded = try await Session.startEmbedded(environment: environment, logger: logger).1
    }
    return try await TenantSources.resolve(fleet, embedded: embedded, environment: environment, logger: logger)
}

extension RolloutOptions {
    /// Loads and checks the fleet, change and policy, resolves the fleet's tenant sources, and plans.
    func loadResolved(_ workspace: Workspace) async throws -> (ResolvedFleet, Change, Policy, RolloutPlan) {
        let (fleet, change, policy) = try loading { () throws(DefinitionError) in
            let fleet = try workspace.loadFleet(self.fleet)
            return (fleet, try workspace.loadChange(self.change, fleet: fleet), try workspace.loadPolicy(self.policy))
        }
        let resolved = try await resolveTenants(fleet, environment: workspace.environment, logger: makeLogger())
        let plan = try loading { () throws(DefinitionError) in
            try RolloutPlan.make(fleet: resolved.fleet, change: change, policy: policy)
        }
        return (resolved, change, policy, plan)
    }
}
