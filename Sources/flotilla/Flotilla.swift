import ArgumentParser

@main
struct Flotilla: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flotilla",
        abstract: "Roll zero-downtime schema changes across a fleet of tenant databases in canary waves.",
        version: "0.1.0",
        subcommands: [
            Validate.self, Lint.self, Plan.self, Rollout.self, Status.self, Approve.self, Halt.self, Resume.self,
            Revert.self, Worker.self, Serve.self, Demo.self, Down.self, Schema.self, Census.self, Converge.self,
            Retry.self, Audit.self,
        ]
    )
}
