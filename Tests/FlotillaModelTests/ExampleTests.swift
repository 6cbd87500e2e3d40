import FlotillaModel
import Testing

@Suite("The examples in fleets/ and policies/")
struct ExampleTests {
    @Test("validate on the package root (files on disk) reports nothing")
    func validateOnDisk() {
        let workspace = Workspace(source: DiskSource(), environment: [:], root: packageRoot)
        let report = workspace.validate([])
        #expect(!report.hasErrors, "\(describe(report.diagnostics))")
        #expect(report.diagnostics.isEmpty, "\(describe(report.diagnostics))")
        #expect(report.fleets.contains("demo"))
        #expect(report.files.count == examplePaths.count)
        #expect(report.changes.sorted() == demoChangeIDs, "every change's id is its file name")
        #expect(Set(report.policies) == Set(policyNames), "every policy's name is its file name")
        #expect(Set(["0001_users", "0002_email_verified", "0003_phone_number_new"]).isSubset(of: demoChangeIDs))
        #expect(Set(["fast", "standard"]).isSubset(of: policyNames))
    }

    @Test("validate on the same files held in memory reports nothing")
    func validateInMemory() throws {
        let files = try exampleFiles()
        let report = Workspace(source: InMemorySource(files), environment: [:]).validate([])
        #expect(report.diagnostics.isEmpty, "\(describe(report.diagnostics))")
        #expect(Set(report.files) == Set(files.keys))
        #expect(report.changes.count == demoChangeIDs.count && report.policies.count == policyNames.count)
    }

    @Test("each example file parses on its own", arguments: examplePaths)
    func parses(_ path: String) throws {
        let text = try exampleText(path)
        let kind: DefinitionKind =
            path.hasSuffix("fleet.yaml") ? .fleet : path.contains("/changes/") ? .change : .policy
        let found = diagnostics(of: text, as: kind, file: path)
        #expect(found.isEmpty, "\(describe(found))")
    }

    @Test("the examples include the demo fleet, its first three changes and the fast and standard policies")
    func examplesFound() throws {
        #expect(examplePaths.contains("fleets/demo/fleet.yaml"))
        #expect(demoChangeIDs.starts(with: ["0001_users", "0002_email_verified", "0003_phone_number_new"]))
        #expect(policyNames.contains("fast") && policyNames.contains("standard"))
    }

    @Test("the demo fleet: 60 tenants on 3 shards, tiers internal, pilot and free")
    func demoFleet() throws {
        let fleet = try Fleet.parse(
            exampleText("fleets/demo/fleet.yaml"), file: "fleets/demo/fleet.yaml", environment: [:])
        #expect(fleet.name == "demo")
        #expect(fleet.control == nil)
        #expect(fleet.shards.map(\.name) == ["pg-a", "pg-b", "pg-c"])
        #expect(fleet.shards.map(\.url) == ["embedded:demo_a", "embedded:demo_b", "embedded:demo_c"])
        #expect(fleet.shards.allSatisfy { $0.maxParallel == 4 })
        #expect(fleet.tenants.count == 60)
        #expect(Set(fleet.tenants.map(\.id)).count == 60)
        var tiers: [String: Int] = [:]
        for tenant in fleet.tenants { tiers[tenant.labels["tier"] ?? "none", default: 0] += 1 }
        #expect(tiers == ["internal": 3, "pilot": 9, "free": 48])
        #expect(Set(fleet.tenants.map(\.shard)) == ["pg-a", "pg-b", "pg-c"])
        // Generated tenants go round-robin over the listed shards: 20 per shard.
        for shard in fleet.shards {
            #expect(fleet.tenants.filter { $0.shard == shard.name }.count == 20)
        }
        let p01 = try #require(fleet.tenants.first { $0.id == "p01" })
        #expect(p01.placement == .schema("tenant_p01"))
        #expect(p01.shard == "pg-a")
        #expect(fleet.tenants.contains { $0.id == "t0048" && $0.placement == .schema("tenant_t0048") })
        #expect(!fleet.tenants.contains { $0.id == "t0049" })
        let acme = try #require(fleet.tenants.first)
        #expect(acme.id == "acme" && acme.labels == ["tier": "internal", "region": "eu"])
    }

    @Test("the demo fleet takes its shard URLs from the environment when set")
    func demoFleetEnvironment() throws {
        let fleet = try Fleet.parse(
            exampleText("fleets/demo/fleet.yaml"), file: "fleet.yaml",
            environment: ["DEMO_PG_B": "postgres://u@db-b/tenants"])
        #expect(fleet.shards.map(\.url) == ["embedded:demo_a", "postgres://u@db-b/tenants", "embedded:demo_c"])
        // No control: key; the control commands read FLOTILLA_CONTROL_URL themselves.
        #expect(fleet.control == nil)
    }

    @Test("the demo changes: ids, requirements, phases")
    func demoChanges() throws {
        let users = try Change.parse(exampleText("fleets/demo/changes/0001_users.yaml"), file: "0001_users.yaml")
        #expect(users.id == "0001_users" && users.requires.isEmpty && users.phases.map(\.name) == ["create"])
        #expect(users.phases[0].reversible)

        let verified = try Change.parse(
            exampleText("fleets/demo/changes/0002_email_verified.yaml"), file: "0002_email_verified.yaml")
        #expect(verified.requires == ["0001_users"])
        #expect(verified.phases.map(\.name) == ["expand", "backfill", "contract"])
        #expect(verified.phases[0].reversible && verified.phases[0].down != nil && verified.phases[0].verify != nil)
        let backfill = try #require(verified.phases[1].backfill)
        #expect(backfill.table == "users" && backfill.set == "email_verified = true")
        #expect(backfill.whereClause == "email_verification_token IS NULL")
        #expect(backfill.batchSize == 1000 && backfill.pause == .milliseconds(20) && backfill.key == "id")
        #expect(backfill.revert == "email_verified = false")
        #expect(verified.phases[2].gate == .approval && verified.phases[2].reversible == false)

        let phone = try Change.parse(
            exampleText("fleets/demo/changes/0003_phone_number_new.yaml"), file: "0003_phone_number_new.yaml")
        #expect(phone.phases.map(\.name) == ["expand", "backfill"])
        #expect(phone.phases[0].up?.sql.contains("CREATE TRIGGER users_phone_number_sync") == true)
    }

    @Test("the example policies")
    func policies() throws {
        let fast = try Policy.parse(exampleText("policies/fast.yaml"), file: "fast.yaml")
        #expect(fast.name == "fast" && fast.waves.map(\.name) == ["canary", "pilot", "rest"])
        #expect(fast.waves[0].select.labels == ["tier": "internal"] && fast.waves[0].bake == .seconds(1))
        #expect(
            fast.waves[2].select.remaining && fast.waves[2].by == .shard && fast.waves[2].bake == .milliseconds(500))
        #expect(fast.parallel == 8 && fast.perShardParallel == 4 && fast.statementTimeout == .seconds(60))
        #expect(fast.retries.attempts == 3 && fast.retries.backoff == .milliseconds(200))

        let standard = try Policy.parse(exampleText("policies/standard.yaml"), file: "standard.yaml")
        #expect(standard.waves[1].select.percent == 10 && standard.waves[1].bake == .seconds(60))
        #expect(standard.failureBudget == FailureBudget(perWave: .count(0), total: .count(0)))
        #expect(standard.onFailure == .revert && standard.onInconclusive == .pause && standard.seed == nil)
        #expect(standard.checks.count == 1 && standard.checks[0].scope == .tenant)
        if case .sql(let sql, let min, let max) = standard.checks[0].kind {
            #expect(sql == "SELECT count(*) >= 0 FROM users" && min == nil && max == nil)
        } else {
            Issue.record("users-readable should be an sql check")
        }
    }
}
