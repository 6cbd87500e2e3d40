/// What `flotilla validate` found.
public struct ValidationReport: Sendable {
    public var files: [String] = []
    public var fleets: [String] = []
    /// The file of each fleet in `fleets`.
    public var fleetFiles: [String] = []
    public var changes: [String] = []
    public var policies: [String] = []
    public var diagnostics: [Diagnostic] = []

    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

extension Workspace {
    /// Checks every definition under the given paths (default: `fleets/` and `policies/`), reporting all problems.
    public func validate(_ paths: [String]) -> ValidationReport {
        var report = ValidationReport()
        var queue = paths.isEmpty ? [joinPath(root, "fleets"), joinPath(root, "policies")] : paths
        var files: [String] = []
        while !queue.isEmpty {
            let path = queue.removeFirst()
            if source.isDirectory(path) {
                for name in source.list(path) where !name.hasPrefix(".") {
                    let child = joinPath(path, name)
                    if source.isDirectory(child) || name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                        queue.append(child)
                    }
                }
            } else if source.isFile(path) {
                files.append(path)
            } else if paths.contains(path) {
                report.diagnostics.append(
                    Diagnostic(at: SourceLocation(file: path, line: 0, column: 0), "no such file or folder"))
            }
        }
        report.files = files
        var fleetsByFolder: [String: Fleet] = [:]
        var changes: [(String, Change)] = []
        for file in files {
            let text: String
            // Its kind is known only from its text, so it is read within the largest limit, then held to its own.
            do {
                text = try read(file, as: nil)
                try DefinitionFile.checkSize(text.utf8.count, of: definitionKind(of: text, file: file), file: file)
            } catch {
                report.diagnostics += error.diagnostics
                continue
            }
            do {
                switch kind(of: text, file: file) {
                case "fleet":
                    let fleet = try Fleet.parse(text, file: file, environment: environment)
                    report.fleets.append(fleet.name)
                    report.fleetFiles.append(file)
                    fleetsByFolder[folder(of: file)] = fleet
                case "change":
                    let change = try Change.parse(text, file: file)
                    report.changes.append(change.id)
                    changes.append((file, change))
                case "policy":
                    report.policies.append(try Policy.parse(text, file: file).name)
                    report.diagnostics += Policy.warnings(text, file: file)
                default:
                    // Parse it as what its place suggests, so the errors are useful.
                    if file.contains("/changes/") {
                        _ = try Change.parse(text, file: file)
                    } else if file.hasSuffix("fleet.yaml") {
                        _ = try Fleet.parse(text, file: file, environment: environment)
                    } else {
                        _ = try Policy.parse(text, file: file)
                    }
                }
            } catch {
                report.diagnostics += error.diagnostics
            }
        }
        var diagnostics = Diagnostics()
        for (file, change) in changes {
            let changesFolder = folder(of: file)
            if let fleet = fleetsByFolder[folder(of: changesFolder)] {
                checkRequires(change, known: changeIDs(of: fleet), into: &diagnostics)
            }
            let expected = file.split(separator: "/").last.map {
                String($0.prefix(upTo: $0.lastIndex(of: ".") ?? $0.endIndex))
            }
            if let expected, expected != change.id {
                diagnostics.warning(
                    change.location, "change",
                    "change id '\(change.id)' differs from its file name '\(expected)'; --change looks changes up by file name"
                )
            }
        }
        // A cycle runs through the changes of one fleet: each fleet's changes are checked together.
        for (folder, group) in Dictionary(grouping: changes, by: { folder(of: $0.0) }).sorted(by: { $0.key < $1.key })
        where fleetsByFolder[self.folder(of: folder)] != nil {
            checkRequirementCycles(group.map(\.1), into: &diagnostics)
        }
        report.diagnostics += diagnostics.all
        var seen = Set<Diagnostic>()
        report.diagnostics = report.diagnostics.filter { seen.insert($0).inserted }.sorted { $0.location < $1.location }
        return report
    }

    func folder(of path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    }

    /// What a file is read as: its first key's kind, else the kind its place suggests, as `validate` parses it.
    func definitionKind(of text: String, file: String) -> DefinitionFile.Kind {
        if let named = kind(of: text, file: file).flatMap(DefinitionFile.Kind.init(rawValue:)) { return named }
        if file.contains("/changes/") { return .change }
        return file.hasSuffix("fleet.yaml") ? .fleet : .policy
    }

    /// `fleet`, `change` or `policy`, from the file's first key.
    func kind(of text: String, file: String) -> String? {
        for line in Lines(text) where !line.hasPrefix(" ") && !line.hasPrefix("-") {
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed == "---" { continue }
            for kind in ["fleet", "change", "policy"] where trimmed.hasPrefix(kind + ":") { return kind }
        }
        return nil
    }
}

/// The non-empty lines of a text, one at a time, as `split(separator: "\n")` gives them (a `\r\n` is one
/// character there, not a line break), without splitting all of a large file when the first lines answer.
struct Lines: Sequence, IteratorProtocol {
    let text: String
    var position: String.Index

    init(_ text: String) {
        self.text = text
        position = text.startIndex
    }

    mutating func next() -> Substring? {
        let bytes = text.utf8
        while position < bytes.endIndex {
            var end = position
            while end < bytes.endIndex {
                // A line feed right after a carriage return belongs to the same character.
                if bytes[end] == UInt8(ascii: "\n"), end == bytes.startIndex || bytes[bytes.index(before: end)] != 13 {
                    break
                }
                end = bytes.index(after: end)
            }
            let line = text[position..<end]
            position = end < bytes.endIndex ? bytes.index(after: end) : end
            if !line.isEmpty { return line }
        }
        return nil
    }
}
