import ArgumentParser
import FlotillaEngine
import FlotillaModel
import FlotillaServer
import Foundation

extension Flotilla {
    struct Halt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Emergency stop: every coordinator of the fleet (or of every fleet) stops within a second.",
            discussion: """
                The halt is written to the control store and announced with NOTIFY; it stays until `flotilla resume`. \
                Steps in flight are cancelled and rolled back; no new step starts; `rollout` refuses to start. Works \
                even when no rollout is running.
                """)

        @Option(help: "The fleet to halt (name, folder or fleet.yaml); also finds its control store.")
        var fleet: String?

        @Flag(help: "Halt every fleet of the control store.")
        var all = false

        @Option(help: "Why (shown to everyone who looks).")
        var reason: String

        @Option(help: "Who halts (default: $USER).")
        var by: String?

        @Flag(help: "Also revert the phase each halted rollout is in, where it applied it.")
        var revert = false

        @Option(help: "Control store URL, when not given by --fleet.")
        var control: String?

        func validate() throws {
            guard all != (fleet != nil) else { throw ValidationError("say either --fleet F or --all") }
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ValidationError("--reason must say why")
            }
        }

        func run() async throws {
            let options = try ControlOptions.parse(
                (fleet.map { ["--fleet", $0] } ?? []) + (control.map { ["--control", $0] } ?? []))
            let session = try await options.session()
            let fleetName = try fleet.map { name in
                try loading { () throws(DefinitionError) in try currentWorkspace().loadFleet(name) }.name
            }
            let who = by ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
            let (reason, revert) = (self.reason, self.revert)
            let record = try await runtime {
                do {
                    return try await session.withControlStore { store in
                        let record = try await store.halt(fleet: fleetName, reason: reason, by: who, revert: revert)
                        await recordAudit(
                            store, .halt, by: who, fleet: fleetName, detail: revert ? "\(reason) (and revert)" : reason)
                        return record
                    }
                } catch let error as ControlStoreUnreachable {
                    throw HaltNotRecorded(unreachable: error)
                }
            }
            print(terminalSafe(record.description))
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lift a halt. Then `flotilla rollout` continues the halted rollout where it stopped.")

        @Option(help: "The fleet whose halts to lift.")
        var fleet: String?

        @Flag(help: "Lift every halt, the global ones included.")
        var all = false

        @Option(help: "Who lifts it (default: $USER).")
        var by: String?

        @Option(help: "Control store URL, when not given by --fleet.")
        var control: String?

        func validate() throws {
            guard all != (fleet != nil) else { throw ValidationError("say either --fleet F or --all") }
        }

        func run() async throws {
            let options = try ControlOptions.parse(
                (fleet.map { ["--fleet", $0] } ?? []) + (control.map { ["--control", $0] } ?? []))
            let session = try await options.session()
            let fleetName = try fleet.map { name in
                try loading { () throws(DefinitionError) in try currentWorkspace().loadFleet(name) }.name
            }
            let who = by ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
            let (lifted, remaining) = try await runtime {
                try await session.withControlStore { store in
                    let lifted = try await store.resume(fleet: fleetName, by: who)
                    let detail = "lifted \(lifted) halt\(lifted == 1 ? "" : "s")"
                    await recordAudit(store, .resume, by: who, fleet: fleetName, detail: detail)
                    return (lifted, try await store.activeHalts(fleet: fleetName))
                }
            }
            print("lifted \(lifted) halt\(lifted == 1 ? "" : "s")")
            for halt in remaining {
                print(terminalSafe("still active: \(halt.description) — lift it with flotilla resume --all"))
            }
        }
    }
}

/// A halt that could not be written: nothing stops the coordinators yet, and the operator must be told what to do.
struct HaltNotRecorded: Error, CustomStringConvertible {
    var unreachable: ControlStoreUnreachable

    var description: String {
        """
        \(unreachable) — the halt was NOT recorded and every coordinator keeps running.
        Stop them where they run (Ctrl-C or SIGTERM: their running statements roll back, steps go back to pending, \
        leases are released), or run this halt again once the control store answers (check the server, and the URL \
        from --fleet, --control or FLOTILLA_CONTROL_URL).
        """
    }
}
