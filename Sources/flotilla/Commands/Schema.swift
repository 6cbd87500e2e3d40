import ArgumentParser
import FlotillaEngine
import FlotillaModel

extension Flotilla {
    struct Schema: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the JSON Schema (draft 2020-12) of fleet, change and policy files, for editors.",
            discussion:
                "With --events: the JSON Schema of one line of `--output json` (every event type and its fields).")

        @Flag(help: "Print the JSON Schema of the event stream (`--output json`) instead.")
        var events = false

        func run() async throws {
            if events {
                print(EventStream.schema.pretty)
                return
            }
            print(DefinitionSchema.document.rendered())
        }
    }
}
