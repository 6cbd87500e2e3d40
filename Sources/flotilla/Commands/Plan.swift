import ArgumentParser
import FlotillaModel
import FlotillaPlan
import FlotillaServer

/// `--fleet`, `--change`, `--policy`: names or paths, as DESIGN.md describes.
struct RolloutOptions: ParsableArguments {
    @Option(help: "Fleet: a name (fleets/NAME/fleet.yaml), its folder, or its fleet.yaml.")
    var fleet: String

    @Option(help: "Change: an id in the fleet's changes/ (or a unique prefix of one), or a path.")
    var change: String

    @Option(help: "Policy: a name (policies/NAME.yaml) or a path.")
    var policy: String
}

extension Flotilla {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show the waves, tenants and SQL that a rollout would run. Touches no database (a fleet's tenant "
                + "sources are read).")

        @OptionGroup var options: RolloutOptions

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        func run() async throws {
            let (resolved, _, _, plan) = try await options.loadResolved(currentWorkspace())
            if !resolved.sources.isEmpty {
                // On standard error with --format json, so that standard output stays one JSON document.
                let line = "tenants of fleet \(resolved.fleet.name): \(resolved.summary)"
                if format == .json { printError(terminalSafe(line)) } else { print(terminalSafe(line) + "\n") }
            }
            switch format {
            case .text: print(PlanRenderer.text(plan))
            case .json: print(PlanRenderer.json(plan))
            }
        }
    }
}
