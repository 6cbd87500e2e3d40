import ArgumentParser
import FlotillaModel

extension Flotilla {
    struct Schema: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the JSON Schema (draft 2020-12) of fleet, change and policy files, for editors.")

        func run() async throws {
            print(DefinitionSchema.document.rendered())
        }
    }
}
