import FlotillaModel
import Testing

@Suite("Workspace: finding fleets, changes and policies by reference")
struct WorkspaceTests {
    static func workspace(extra: [String: String] = [:]) throws -> Workspace {
        var files = try exampleFiles()
        files.merge(extra) { $1 }
        return Workspace(source: InMemorySource(files), environment: [:])
    }

    /// The messages of the DefinitionError `body` throws; nil when it does not throw.
    static func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as DefinitionError {
            return error.diagnostics.map(\.message).joined(separator: "\n")
        } catch {
            return "unexpected error type: \(error)"
        }
    }

    @Test(
        "--fleet by name, by folder and by fleet.yaml give the same fleet",
        arguments: [
            "demo", "fleets/demo", "fleets/demo/", "./fleets/demo", "fleets/demo/fleet.yaml",
        ])
    func fleetReference(_ reference: String) throws {
        let workspace = try Self.workspace()
        let fleet = try workspace.loadFleet(reference)
        #expect(fleet.name == "demo" && fleet.tenants.count == 60)
        #expect(try workspace.fleetPath(reference).hasSuffix("fleets/demo/fleet.yaml"))
    }

    @Test("--fleet under a root folder")
    func fleetUnderRoot() throws {
        let files = try exampleFiles()
        var rooted: [String: String] = [:]
        for (path, text) in files { rooted["/srv/app/" + path] = text }
        let workspace = Workspace(source: InMemorySource(rooted), root: "/srv/app")
        #expect(try workspace.fleetPath("demo") == "/srv/app/fleets/demo/fleet.yaml")
        #expect(try workspace.policyPath("fast") == "/srv/app/policies/fast.yaml")
        let fleet = try workspace.loadFleet("demo")
        #expect(
            try workspace.changePath("0002", fleet: fleet) == "/srv/app/fleets/demo/changes/0002_email_verified.yaml")
        #expect(workspace.validate([]).diagnostics.isEmpty)
    }

    @Test("an unknown fleet is an error with a suggestion and the list of fleets")
    func unknownFleet() throws {
        let workspace = try Self.workspace()
        let message = Self.message { _ = try workspace.loadFleet("demi") }
        #expect(message?.contains("no fleet 'demi'") == true, "\(message ?? "no error")")
        #expect(message?.contains("did you mean 'demo'?") == true)
        #expect(message?.contains("fleets here: demo") == true)
        #expect(
            Self.message { _ = try workspace.loadFleet("fleets/nope/fleet.yaml") }?.contains("no such fleet file")
                == true)
    }

    @Test(
        "--change by id, by unique prefix, by path",
        arguments: [
            ("0002_email_verified", "0002_email_verified"),
            ("0002", "0002_email_verified"),
            ("0003_phone", "0003_phone_number_new"),
            ("0001_users.yaml", "0001_users"),
            ("fleets/demo/changes/0003_phone_number_new.yaml", "0003_phone_number_new"),
        ])
    func changeReference(_ reference: String, _ id: String) throws {
        let workspace = try Self.workspace()
        let fleet = try workspace.loadFleet("demo")
        let change = try workspace.loadChange(reference, fleet: fleet)
        #expect(change.id == id)
    }

    @Test("an exact id wins over a longer id it is a prefix of")
    func exactBeatsPrefix() throws {
        let workspace = try Self.workspace(extra: [
            "fleets/demo/changes/0001_users_more.yaml":
                "change: 0001_users_more\nphases:\n  - {name: p, up: SELECT 1}\n"
        ])
        let fleet = try workspace.loadFleet("demo")
        #expect(try workspace.loadChange("0001_users", fleet: fleet).id == "0001_users")
        #expect(Self.message { _ = try workspace.loadChange("0001_u", fleet: fleet) }?.contains("ambiguous") == true)
    }

    @Test("an ambiguous prefix is an error that lists the candidates")
    func ambiguousChange() throws {
        let workspace = try Self.workspace()
        let fleet = try workspace.loadFleet("demo")
        let message = Self.message { _ = try workspace.loadChange("000", fleet: fleet) }
        let candidates = demoChangeIDs.filter { $0.hasPrefix("000") }
        #expect(candidates.count >= 3)
        #expect(
            message == "change '000' is ambiguous: \(candidates.joined(separator: ", "))", "\(message ?? "no error")")
    }

    @Test("an unknown change is an error with a suggestion and the list of changes")
    func unknownChange() throws {
        let workspace = try Self.workspace()
        let fleet = try workspace.loadFleet("demo")
        let message = Self.message { _ = try workspace.loadChange("0002_email_verifed", fleet: fleet) }
        #expect(message?.contains("no change '0002_email_verifed' in fleet 'demo'") == true, "\(message ?? "no error")")
        #expect(message?.contains("did you mean '0002_email_verified'?") == true)
        #expect(message?.contains("changes: \(demoChangeIDs.joined(separator: ", "))") == true)
        #expect(
            Self.message { _ = try workspace.loadChange("0009_nope.yaml", fleet: fleet) }?.contains(
                "no such change file") == true)
    }

    @Test("a change file ending in .yml is found by its id")
    func ymlChange() throws {
        let workspace = try Self.workspace(extra: [
            "fleets/demo/changes/0098_orders.yml": "change: 0098_orders\nphases:\n  - {name: p, up: SELECT 1}\n"
        ])
        let fleet = try workspace.loadFleet("demo")
        #expect(workspace.changeIDs(of: fleet).contains("0098_orders"))
        let message = Self.message { _ = try workspace.loadChange("0098_orders", fleet: fleet) }
        #expect(message == nil, "\(message ?? "")")
    }

    @Test("requires naming an undefined change is an error, in loadChange and in validate")
    func undefinedRequirement() throws {
        let workspace = try Self.workspace(extra: [
            "fleets/demo/changes/0099_orders.yaml":
                "change: 0099_orders\nrequires: [0001_users, 0002_email_verifie]\nphases:\n  - {name: p, up: SELECT 1}\n"
        ])
        let fleet = try workspace.loadFleet("demo")
        let message = Self.message { _ = try workspace.loadChange("0099", fleet: fleet) }
        #expect(
            message?.contains("change '0099_orders' requires '0002_email_verifie', which is not defined") == true,
            "\(message ?? "no error")")
        #expect(message?.contains("did you mean '0002_email_verified'?") == true)
        #expect(message?.contains("0001_users'") == false, "only the undefined requirement is reported")

        let report = workspace.validate([])
        #expect(report.hasErrors)
        #expect(report.diagnostics.filter { $0.severity == .error }.count == 1, "\(describe(report.diagnostics))")
        #expect(report.diagnostics.first?.location.file == "fleets/demo/changes/0099_orders.yaml")
    }

    @Test("requires: an undefined change is reported at its entry's line and column")
    func undefinedRequirementPlace() throws {
        let workspace = try Self.workspace(extra: [
            "fleets/demo/changes/0099_orders.yaml":
                "change: 0099_orders\nrequires:\n  - 0001_users\n  - 0002_nope\nphases:\n  - {name: p, up: SELECT 1}\n"
        ])
        let report = workspace.validate([])
        let error = report.diagnostics.first { $0.severity == .error }
        #expect(error?.location.line == 4 && error?.location.column == 5, "\(describe(report.diagnostics))")
    }

    @Test("requires: a change that requires itself, and a cycle through several changes, are errors at their place")
    func requirementCycles() throws {
        let workspace = try Self.workspace(extra: [
            "fleets/demo/changes/0097_self.yaml":
                "change: 0097_self\nrequires: [0097_self]\nphases:\n  - {name: p, up: SELECT 1}\n",
            "fleets/demo/changes/0098_a.yaml":
                "change: 0098_a\nrequires: [0099_b]\nphases:\n  - {name: p, up: SELECT 1}\n",
            "fleets/demo/changes/0099_b.yaml":
                "change: 0099_b\nrequires:\n  - 0001_users\n  - 0098_a\nphases:\n  - {name: p, up: SELECT 1}\n",
        ])
        let fleet = try workspace.loadFleet("demo")
        let selfMessage = Self.message { _ = try workspace.loadChange("0097_self", fleet: fleet) }
        #expect(selfMessage?.contains("change '0097_self' requires itself") == true, "\(selfMessage ?? "no error")")
        let cycle = Self.message { _ = try workspace.loadChange("0098_a", fleet: fleet) }
        #expect(cycle?.contains("(a cycle: ") == true, "\(cycle ?? "no error")")
        #expect(throws: DefinitionError.self) { _ = try workspace.loadChanges(of: fleet) }

        let report = workspace.validate([])
        let errors = report.diagnostics.filter { $0.severity == .error }
        #expect(errors.count == 2, "\(describe(report.diagnostics))")
        let selfError = errors.first { $0.location.file.hasSuffix("0097_self.yaml") }
        #expect(selfError?.location.line == 2 && selfError?.location.column == 12, "\(describe(errors))")
        let cycleError = errors.first { $0.location.file.hasSuffix("0099_b.yaml") }
        #expect(cycleError?.message.contains("0098_a → 0099_b → 0098_a") == true, "\(describe(errors))")
        #expect(cycleError?.location.line == 4, "\(describe(errors))")
    }

    @Test("requires: the changes a change needs come in an order where each follows what it requires")
    func requirementOrder() throws {
        let workspace = try Self.workspace(extra: [
            "fleets/demo/changes/0097_late.yaml":
                "change: 0097_late\nrequires: [0099_early]\nphases:\n  - {name: p, up: SELECT 1}\n",
            "fleets/demo/changes/0098_last.yaml":
                "change: 0098_last\nrequires: [0097_late]\nphases:\n  - {name: p, up: SELECT 1}\n",
            "fleets/demo/changes/0099_early.yaml":
                "change: 0099_early\nphases:\n  - {name: p, up: SELECT 1}\n",
        ])
        let fleet = try workspace.loadFleet("demo")
        let last = try workspace.loadChange("0098_last", fleet: fleet)
        #expect(try workspace.requiredChanges(of: last, fleet: fleet).map(\.id) == ["0099_early", "0097_late"])
        let all = try workspace.loadChanges(of: fleet).map(\.id)
        let early = all.firstIndex(of: "0099_early") ?? -1
        let late = all.firstIndex(of: "0097_late") ?? -1
        let lastIndex = all.firstIndex(of: "0098_last") ?? -1
        #expect(early < late && late < lastIndex, "\(all)")
        #expect(all.count == workspace.changeIDs(of: fleet).count)
    }

    @Test("--policy by name and by path; unknown with a suggestion")
    func policyReference() throws {
        let workspace = try Self.workspace()
        #expect(try workspace.loadPolicy("standard").name == "standard")
        #expect(try workspace.loadPolicy("policies/fast.yaml").name == "fast")
        let message = Self.message { _ = try workspace.loadPolicy("standrd") }
        #expect(message?.contains("no policy 'standrd' (did you mean 'standard'?)") == true, "\(message ?? "no error")")
        #expect(message?.contains("policies here: \(policyNames.joined(separator: ", "))") == true)
        #expect(
            Self.message { _ = try workspace.loadPolicy("policies/nope.yaml") }?.contains("no such policy file") == true
        )
    }

    @Test("validate of given paths: a single file, a folder, and a missing path")
    func validatePaths() throws {
        let workspace = try Self.workspace()
        let one = workspace.validate(["policies/fast.yaml"])
        #expect(one.files == ["policies/fast.yaml"] && one.policies == ["fast"] && one.diagnostics.isEmpty)
        let folder = workspace.validate(["fleets/demo/changes"])
        #expect(folder.changes.count == demoChangeIDs.count && folder.diagnostics.isEmpty)
        let missing = workspace.validate(["policies/nope.yaml"])
        #expect(missing.hasErrors && missing.diagnostics.first?.message == "no such file or folder")
    }

    @Test("validate reports the errors of every bad file, each at its place")
    func validateBadFiles() throws {
        let workspace = try Self.workspace(extra: [
            "policies/broken.yaml": "policy: broken\nwaves:\n  - {name: w, select: {percent: 0}}\n",
            "fleets/other/fleet.yaml": "fleet: other\nshards: []\ntenants: []\n",
        ])
        let report = workspace.validate([])
        let files = Set(report.diagnostics.map(\.location.file))
        #expect(files == ["policies/broken.yaml", "fleets/other/fleet.yaml"], "\(describe(report.diagnostics))")
        #expect(report.diagnostics.contains { $0.location.line == 3 && $0.location.column == 33 })
    }
}
