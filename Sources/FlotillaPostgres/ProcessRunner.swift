import Foundation

/// What a finished subprocess left behind.
package struct ProcessResult: Sendable {
    package var status: Int32
    package var standardOutput: String
    package var standardError: String

    package var succeeded: Bool { status == 0 }

    /// Both outputs, for messages.
    package var combinedOutput: String {
        [standardOutput, standardError].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }.joined(separator: "\n")
    }
}

/// Runs programs with Foundation's `Process`, capturing their output.
package enum ProcessRunner {
    /// Runs a program to completion, blocking the calling thread. Standard input is `/dev/null`.
    package static func run(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: URL? = nil,
        input: String? = nil
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        let inputPipe = input.map { _ in Pipe() }
        process.standardInput = inputPipe ?? FileHandle.nullDevice
        try process.run()

        // Drain both pipes at once, or a chatty program blocks on a full pipe.
        let errorBox = DataBox()
        let drained = DispatchGroup()
        drained.enter()
        DispatchQueue.global().async {
            errorBox.data = error.fileHandleForReading.readDataToEndOfFile()
            drained.leave()
        }
        if let inputPipe, let input {
            inputPipe.fileHandleForWriting.write(Data(input.utf8))
            try? inputPipe.fileHandleForWriting.close()
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        return ProcessResult(
            status: process.terminationStatus,
            standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorBox.data, as: UTF8.self)
        )
    }

    /// Runs a program to completion on a background thread.
    package static func run(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: URL? = nil
    ) async throws -> ProcessResult {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result {
                        try run(
                            executable, arguments, environment: environment, currentDirectory: currentDirectory,
                            input: nil)
                    })
            }
        }
    }

    /// Looks a program up in `PATH` and the usual system folders (`runuser` and `useradd` live in `/usr/sbin`).
    package static func find(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> URL?
    {
        let directories = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + [
            "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
        ]
        for directory in directories where !directory.isEmpty {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}
