import FlotillaModel
import FlotillaPlan
import FlotillaPostgres
import Foundation
import PostgresNIO

/// What a bake concluded.
enum BakeVerdict: Sendable, Equatable {
    case healthy
    case failed(String)
    case inconclusive(String)
}

/// Watches a wave: checks right after its steps, during its bake, and before it starts (preflight).
struct BakeWatcher: Sendable {
    let driver: Driver
    let phase: Phase
    let wave: PlannedWave

    /// Tenant-scope checks after the wave, then the bake, then the checks again.
    func watch(_ tenants: [Tenant]) async throws -> BakeVerdict {
        let checker = HealthChecker(driver: driver, phase: phase, wave: wave.name)
        if let failure = try await checker.run(on: tenants) { return .failed(failure) }
        let bake = Duration.milliseconds(wave.bakeMilliseconds)
        if bake > .zero {
            driver.observe(.baking(phase: phase.name, wave: wave.name, duration: bake))
            try await Task.sleep(for: bake)
            if let failure = try await checker.run(on: tenants) { return .failed(failure) }
        }
        return .healthy
    }

    /// Preflight checks before a wave starts; nil when clear to go.
    func preflight(_ tenants: [Tenant]) async throws -> String? {
        nil
    }
}

/// Runs a policy's tenant-scope `sql` checks on a wave's tenants, each in a read-only transaction in the tenant.
struct HealthChecker: Sendable {
    let driver: Driver
    let phase: Phase
    let wave: String

    /// Why the wave is unhealthy, or nil.
    func run(on tenants: [Tenant]) async throws -> String? {
        for check in driver.policy.checks where check.scope == .tenant {
            guard case .sql(let sql, let min, let max) = check.kind else { continue }
            let failures = Failures()
            _ = try await WaveRunner(driver: driver, phase: phase).dispatch(tenants) { tenant in
                let verdict = await measure(sql: sql, min: min, max: max, tenant: tenant, timeout: check.timeout)
                if let verdict { await failures.add("\(tenant.id): \(verdict)") }
                return nil
            }
            let found = await failures.all
            if found.count > check.failureLimit {
                let message = "check \(check.name) failed on \(found.count) tenant(s) of wave \(wave): \(found.prefix(5).joined(separator: "; "))"
                driver.observe(.checkFailed(check: check.name, message: message))
                try await driver.store.event(driver.rolloutID, "check-failed", phase: phase.name, wave: wave, message)
                return message
            }
        }
        return nil
    }

    /// nil when the check passes, else what it saw.
    func measure(sql: String, min: Double?, max: Double?, tenant: Tenant, timeout: Duration) async -> String? {
        do {
            let value = try await driver.engine.connections.withTenant(tenant) { connection -> String? in
                try await SQLRunner.execute("BEGIN READ ONLY", on: connection, logger: driver.logger)
                do {
                    try await SQLRunner.execute("SET LOCAL statement_timeout = '\(timeout.milliseconds)ms'", on: connection, logger: driver.logger)
                    if case .schema(let schema) = tenant.placement {
                        try await SQLRunner.execute("SET LOCAL search_path = \(quoteIdentifier(schema))", on: connection, logger: driver.logger)
                    }
                    let value = try await SQLRunner.firstValue(sql.trimmingCharacters(in: CharacterSet(charactersIn: "; \n")), on: connection, logger: driver.logger)
                    try await SQLRunner.execute("ROLLBACK", on: connection, logger: driver.logger)
                    return value
                } catch {
                    try? await SQLRunner.execute("ROLLBACK", on: connection, logger: driver.logger)
                    throw error
                }
            }
            guard let value else { return "no row" }
            if min != nil || max != nil {
                guard let number = Double(value) else { return "returned \(value), not a number" }
                if let min, number < min { return "returned \(value), below \(min)" }
                if let max, number > max { return "returned \(value), above \(max)" }
                return nil
            }
            return value == "true" ? nil : "returned \(value)"
        } catch {
            return "error: \(DatabaseFailure(error).message)"
        }
    }
}

actor Failures {
    var all: [String] = []
    func add(_ text: String) { all.append(text) }
}
