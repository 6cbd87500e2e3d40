import ArgumentParser
import FlotillaModel
import FlotillaPlan

/// `--fleet`, `--change`, `--policy`: names or paths, as DESIGN.md describes.
struct RolloutOptions: ParsableArguments {
    @Option(help: "Fleet: a name (fleets/NAME/fleet.yaml), its folder, or its fleet.yaml.")
    var fleet: String

    @Option(help: "Change: an id in the fleet's changes/ (or a unique prefix of one), or a path.")
    var change: String

    @Option(help: "Policy: a name (policies/NAME.yaml) or a path.")
    var policy: String

    /// Loads and checks all three, and plans. Problems print as `path:line:col: error:` and exit 2.
    func load(_ workspace: Workspace) throws -> (Fleet, Change, Policy, RolloutPlan) {
        try loading { () throws(DefinitionError) in
            let fleet = try workspace.loadFleet(self.fleet)
            let change = try workspace.loadChange(self.change, fleet: fleet)
            let policy = try workspace.loadPolicy(self.policy)
            let plan = try RolloutPlan.make(fleet: fleet, change: change, policy: policy)
            return (fleet, change, policy, plan)
        }
    }
}

extension Flotilla {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the waves, tenants and SQL that a rollout would run. Touches no database.")

        @OptionGroup var options: RolloutOptions

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        func run() async throws {
            let (_, _, _, plan) = try options.load(currentWorkspace())
            switch format {
            case .text: print(PlanRenderer.text(plan))
            case .json: print(PlanRenderer.json(plan))
            }
        }
    }
}
