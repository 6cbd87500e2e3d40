import FlotillaModel
import Foundation
import Testing

/// The package root (the folder holding Package.swift), found from this file's path.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    fatalError("no Package.swift above \(#filePath)")
}()

/// Definition files on disk, for tests that read the real examples.
struct DiskSource: DefinitionSource {
    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    func list(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }
}

/// The text of a file of the package, by its path relative to the root.
func exampleText(_ relativePath: String) throws -> String {
    try String(contentsOfFile: packageRoot + "/" + relativePath, encoding: .utf8)
}

/// Every example definition (relative path → text): the demo fleet, its changes and the policies.
func exampleFiles() throws -> [String: String] {
    var files: [String: String] = [:]
    let manager = FileManager.default
    files["fleets/demo/fleet.yaml"] = try exampleText("fleets/demo/fleet.yaml")
    for name in try manager.contentsOfDirectory(atPath: packageRoot + "/fleets/demo/changes") where name.hasSuffix(".yaml") {
        files["fleets/demo/changes/\(name)"] = try exampleText("fleets/demo/changes/\(name)")
    }
    for name in try manager.contentsOfDirectory(atPath: packageRoot + "/policies") where name.hasSuffix(".yaml") {
        files["policies/\(name)"] = try exampleText("policies/\(name)")
    }
    return files
}

enum DefinitionKind: String, Sendable {
    case fleet, change, policy
}

/// Parses `text` as `kind` and returns the diagnostics it threw (empty when it parsed).
func diagnostics(
    of text: String, as kind: DefinitionKind, file: String = "test.yaml", environment: [String: String] = [:]
) -> [Diagnostic] {
    do {
        switch kind {
        case .fleet: _ = try Fleet.parse(text, file: file, environment: environment)
        case .change: _ = try Change.parse(text, file: file)
        case .policy: _ = try Policy.parse(text, file: file)
        }
        return []
    } catch {
        return error.diagnostics
    }
}

func errors(of text: String, as kind: DefinitionKind, environment: [String: String] = [:]) -> [Diagnostic] {
    diagnostics(of: text, as: kind, environment: environment).filter { $0.severity == .error }
}

/// `line:col: message` lines, for failure messages.
func describe(_ diagnostics: [Diagnostic]) -> String {
    diagnostics.isEmpty
        ? "(no diagnostics)"
        : diagnostics.map { "\($0.location.line):\($0.location.column): \($0.severity.rawValue): \($0.message)" }
            .joined(separator: "\n")
}
