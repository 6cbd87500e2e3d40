import ArgumentParser
import FlotillaEngine
import FlotillaPostgres
import Foundation

extension Flotilla {
    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the embedded PostgreSQL (.flotilla/postgres).")

        func run() async throws {
            let directory = Session.embeddedDirectory(environment: ProcessInfo.processInfo.environment)
            guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("data").path) else {
                print("no embedded PostgreSQL in \(directory.path)")
                return
            }
            try await runtime {
                try await EmbeddedPostgres(directory: directory, logger: makeLogger()).stop()
            }
            print("stopped the embedded PostgreSQL in \(directory.path)")
        }
    }
}
