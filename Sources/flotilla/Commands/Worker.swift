import ArgumentParser
import FlotillaEngine
import FlotillaModel
import Foundation

extension Flotilla {
    struct Worker: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Work a fleet's running rollouts alongside their coordinator (on this or another machine).",
            discussion: """
                Claims tenant steps of the wave each rollout's leader is on (SELECT … FOR UPDATE SKIP LOCKED in the \
                control store), under the same global and per-shard caps, and obeys halts. Needs the same fleets/ and \
                policies/ as the coordinator.
                """)

        @Option(help: "The fleet (name, folder or fleet.yaml).")
        var fleet: String

        @Flag(help: "Exit when no rollout of the fleet is running, instead of waiting for one.")
        var once = false

        @Flag(help: "Print every tenant step.")
        var verbose = false

        @Option(
            help:
                "Progress: text (plain lines) or json (one event per line, NDJSON; everything else to standard error)."
        )
        var output: OutputFormat = .text

        func run() async throws {
            let workspace = currentWorkspace()
            let fleet = try loading { () throws(DefinitionError) in try workspace.loadFleet(self.fleet) }
            let logger = makeLogger()
            let printer = RolloutConsole(
                output: output, verbose: verbose, context: EventStream.Context(fleet: fleet.name, kind: "worker"),
                live: false)
            let once = self.once
            try await runtime {
                let session = try await Session.open(
                    fleet: fleet, control: nil, environment: workspace.environment, logger: logger)
                try await session.withControlStore { store in
                    try await session.withFleet(fleet) { connections in
                        let engine = RolloutEngine(store: store, connections: connections, logger: logger) {
                            printer($0)
                        }
                        try await engine.work(once: once) { changeID, policyName in
                            let change = try workspace.loadChange(changeID, fleet: fleet)
                            let policy = try workspace.loadPolicy(policyName)
                            return (change, policy)
                        }
                    }
                }
            }
        }
    }
}
