import FlotillaModel
import FlotillaPostgres
import Foundation

/// A `command` check: the program with its templated arguments and `FLOTILLA_*` in its environment; exit 0
/// passes, another exit status fails; a program that cannot start, dies of a signal, or runs past the check's
/// timeout (it is then killed, with everything it started) is an error.
enum CommandCheck {
    /// How a program ended.
    typealias Ending = ProcessEnding

    /// The last bytes of the output kept for the measurement's detail.
    static let outputLimit = 300

    static func verdict(_ ending: Ending, timeout: Duration, output: String) -> (
        CheckMeasurement.Verdict, String?, String
    ) {
        let tail = output.isEmpty ? "" : ": \(output)"
        switch ending {
        case .exited(0): return (.pass, "exit 0", "exit 0\(tail)")
        case .exited(let status): return (.fail, "exit \(status)", "exit \(status)\(tail)")
        case .signalled(let signal): return (.error, "signal \(signal)", "killed by signal \(signal)\(tail)")
        case .timedOut:
            return (.error, nil, "still running after the timeout of \(timeout.milliseconds) ms; killed\(tail)")
        case .cancelled: return (.error, nil, "cancelled; killed")
        }
    }

    /// Runs the check once; never throws: a failure to measure is an `error` measurement.
    static func measure(_ argv: [String], template: CheckTemplate, timeout: Duration) async -> (
        verdict: CheckMeasurement.Verdict, value: String?, detail: String
    ) {
        let arguments = argv.map { template.fill($0) }
        guard let program = arguments.first, !program.isEmpty else { return (.error, nil, "no program to run") }
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in template.environment { environment[key] = value }
        guard let executable = resolve(program, environment: environment) else {
            return (.error, nil, "cannot run \(program): not found (PATH: \(environment["PATH"] ?? ""))")
        }
        do {
            let result = try await ProcessRunner.run(
                executable, Array(arguments.dropFirst()), environment: environment, timeout: timeout,
                keepingLast: outputLimit)
            return verdict(result.ending, timeout: timeout, output: oneLine(result.output))
        } catch {
            return (.error, nil, error.description)
        }
    }

    /// Output as one line for the measurement's detail: its lines joined with ` | `.
    static func oneLine(_ output: String) -> String {
        output.split(whereSeparator: \.isNewline).map(String.init).joined(separator: " | ")
            .trimmingCharacters(in: .whitespaces)
    }

    /// A path as given (relative to the current folder), or a name looked up in `PATH`.
    static func resolve(_ program: String, environment: [String: String]) -> URL? {
        if program.contains("/") {
            return FileManager.default.isExecutableFile(atPath: program) ? URL(fileURLWithPath: program) : nil
        }
        return ProcessRunner.find(program, environment: environment)
    }
}
