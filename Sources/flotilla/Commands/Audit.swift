import ArgumentParser
import FlotillaEngine
import FlotillaModel
import Foundation

extension Flotilla {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Who did what to the rollouts, from where and when.",
            discussion: """
                Lists the audit trail of the control store, oldest first: every rollout start, approve, halt, resume, \
                revert, retry and converge, with who (--by, the API token's name, else the OS user), from where (cli or \
                api, and the host) and when.
                """)

        @Option(help: "Only this fleet's entries (name, folder or fleet.yaml); also finds its control store.")
        var fleet: String?

        @Option(help: "Only this rollout's entries.")
        var rollout: String?

        @Option(help: "Control store URL, when not given by --fleet.")
        var control: String?

        @Option(help: "At most this many entries, the latest.")
        var limit = 1000

        @Option(help: "Output: text, or json (an array of entries).")
        var output: OutputFormat = .text

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let options = try ControlOptions.parse(
                (fleet.map { ["--fleet", $0] } ?? []) + (control.map { ["--control", $0] } ?? []))
            let session = try await options.session()
            let fleetName = try fleet.map { name in
                try loading { () throws(DefinitionError) in try currentWorkspace().loadFleet(name) }.name
            }
            let (rollout, limit) = (self.rollout, self.limit)
            let entries = try await runtime {
                try await session.withControlStore { store in
                    try await store.auditEntries(fleet: fleetName, rollout: rollout, limit: limit)
                }
            }
            if output == .json {
                print(try StatusReport.json(entries))
            } else if entries.isEmpty {
                print("no audit entries")
            } else {
                print(StatusReport.terminal(entries.map(\.line)))
            }
        }
    }
}

/// Writes an act of the command line to the audit trail: by `by`, else the OS user, from this host. A trail that
/// cannot be written does not stop the act (a halt above all); it is said on standard error.
@discardableResult
func recordAudit(
    _ store: ControlStore, _ action: AuditAction, by: String?, fleet: String?, change: String? = nil,
    rollout: String? = nil, detail: String = ""
) async -> Int64? {
    let entry = AuditEntry(
        actor: by ?? AuditEntry.osUser, via: .cli, action: action, fleet: fleet, change: change, rollout: rollout,
        detail: detail)
    do {
        return try await store.recordAudit(entry)
    } catch {
        printError("warning: the audit trail did not record this \(action.rawValue): \(error)")
        return nil
    }
}

extension StatusReport {
    /// The rollout's audit entries, for `status`.
    static func auditText(_ entries: [AuditEntry]) -> String {
        guard !entries.isEmpty else { return "" }
        return "\n" + terminal(["  audit"] + entries.map { "    \($0.line)" })
    }
}
