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

/// The relative paths of every example definition: each fleet's fleet.yaml and changes, and the policies, sorted.
let examplePaths: [String] = {
    let manager = FileManager.default
    func yaml(in folder: String) -> [String] {
        ((try? manager.contentsOfDirectory(atPath: packageRoot + "/" + folder)) ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { folder + "/" + $0 }
    }
    var paths: [String] = []
    for fleet in ((try? manager.contentsOfDirectory(atPath: packageRoot + "/fleets")) ?? []).sorted() {
        paths.append("fleets/\(fleet)/fleet.yaml")
        paths += yaml(in: "fleets/\(fleet)/changes")
    }
    return paths + yaml(in: "policies")
}()

/// The demo fleet's change ids (file names without .yaml), in order.
let demoChangeIDs: [String] = examplePaths.filter { $0.hasPrefix("fleets/demo/changes/") }.map {
    String($0.dropFirst("fleets/demo/changes/".count).prefix { $0 != "." })
}

/// The example policies' names, in order.
let policyNames: [String] = examplePaths.filter { $0.hasPrefix("policies/") }.map {
    String($0.dropFirst("policies/".count).prefix { $0 != "." })
}

/// Every example definition (relative path → text).
func exampleFiles() throws -> [String: String] {
    var files: [String: String] = [:]
    for path in examplePaths { files[path] = try exampleText(path) }
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
