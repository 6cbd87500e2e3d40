/// Finds and loads fleets, changes and policies by name or path, the way the command line refers to them:
/// `--fleet demo` is `fleets/demo/fleet.yaml`, `--change 0002_email_verified` is found in the fleet's `changes/`,
/// `--policy standard` is `policies/standard.yaml`; a folder or a file path works too.
public struct Workspace: Sendable {
    public var source: any DefinitionSource
    public var environment: [String: String]
    /// The folder that holds `fleets/` and `policies/`.
    public var root: String

    public init(source: any DefinitionSource, environment: [String: String] = [:], root: String = "") {
        self.source = source
        self.environment = environment
        self.root = root
    }

    func problem(_ path: String, _ message: String) -> DefinitionError {
        DefinitionError([Diagnostic(at: SourceLocation(file: path, line: 0, column: 0), message)])
    }

    /// The text of a definition file of `kind` (nil: not known before reading, so any kind's limit), refused
    /// before parsing when it is larger than the kind allows or is not UTF-8.
    func read(_ path: String, as kind: DefinitionFile.Kind?) throws(DefinitionError) -> String {
        // A size known up front spares reading a huge file at all; the bytes read are checked again all the same.
        if let size = source.size(path) { try DefinitionFile.checkSize(size, of: kind, file: path) }
        let bytes: [UInt8]
        do {
            bytes = try source.bytes(path)
        } catch {
            throw problem(path, "cannot read the file: \(error)")
        }
        try DefinitionFile.checkSize(bytes.count, of: kind, file: path)
        return try DefinitionFile.text(of: bytes, file: path)
    }

    // MARK: fleets

    /// The path of a fleet's `fleet.yaml`.
    public func fleetPath(_ reference: String) throws(DefinitionError) -> String {
        if reference.hasSuffix(".yaml") || reference.hasSuffix(".yml") {
            guard source.isFile(reference) else { throw problem(reference, "no such fleet file") }
            return reference
        }
        if source.isFile(joinPath(reference, "fleet.yaml")) { return joinPath(reference, "fleet.yaml") }
        let named = joinPath(root, "fleets", reference, "fleet.yaml")
        if source.isFile(named) { return named }
        let known = source.list(joinPath(root, "fleets")).filter {
            source.isFile(joinPath(root, "fleets", $0, "fleet.yaml"))
        }
        let suggestion = closestMatch(to: reference, in: known).map { " (did you mean '\($0)'?)" } ?? ""
        throw problem(
            reference,
            "no fleet '\(reference)'\(suggestion): looked for \(named)"
                + (known.isEmpty ? "" : "; fleets here: \(known.joined(separator: ", "))"))
    }

    public func loadFleet(_ reference: String) throws(DefinitionError) -> Fleet {
        let path = try fleetPath(reference)
        return try Fleet.parse(read(path, as: .fleet), file: path, environment: environment)
    }

    /// The folder holding a fleet's `changes/`.
    public func changesDirectory(of fleet: Fleet) -> String {
        let folder = fleet.file.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(
            separator: "/")
        return joinPath(folder, "changes")
    }

    /// Change ids (file names without `.yaml`) in a fleet's `changes/`, in order.
    public func changeIDs(of fleet: Fleet) -> [String] {
        source.list(changesDirectory(of: fleet)).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.map {
            String($0.prefix(upTo: $0.lastIndex(of: ".")!))
        }
    }

    // MARK: changes

    public func changePath(_ reference: String, fleet: Fleet) throws(DefinitionError) -> String {
        if reference.hasSuffix(".yaml") || reference.hasSuffix(".yml") {
            if source.isFile(reference) { return reference }
            if source.isFile(joinPath(changesDirectory(of: fleet), reference)) {
                return joinPath(changesDirectory(of: fleet), reference)
            }
            throw problem(reference, "no such change file")
        }
        let ids = changeIDs(of: fleet)
        let matches = ids.contains(reference) ? [reference] : ids.filter { $0.hasPrefix(reference) }
        if matches.count == 1 {
            let directory = changesDirectory(of: fleet)
            let yaml = joinPath(directory, matches[0] + ".yaml")
            return source.isFile(yaml) ? yaml : joinPath(directory, matches[0] + ".yml")
        }
        if matches.count > 1 {
            throw problem(reference, "change '\(reference)' is ambiguous: \(matches.joined(separator: ", "))")
        }
        let suggestion = closestMatch(to: reference, in: ids).map { " (did you mean '\($0)'?)" } ?? ""
        throw problem(
            reference,
            "no change '\(reference)' in fleet '\(fleet.name)'\(suggestion); changes: \(ids.isEmpty ? "none" : ids.joined(separator: ", "))"
        )
    }

    public func loadChange(_ reference: String, fleet: Fleet) throws(DefinitionError) -> Change {
        let path = try changePath(reference, fleet: fleet)
        let change = try Change.parse(read(path, as: .change), file: path)
        // Its requirements are read too: an undefined one or a cycle is an error here, before anything runs.
        _ = try requiredChanges(of: change, fleet: fleet)
        return change
    }

    func checkRequires(_ change: Change, known: [String], into diagnostics: inout Diagnostics) {
        for required in change.requires where !known.contains(required) {
            let suggestion = closestMatch(to: required, in: known).map { " (did you mean '\($0)'?)" } ?? ""
            diagnostics.error(
                change.location(ofRequirement: required), "requires",
                "change '\(change.id)' requires '\(required)', which is not defined\(suggestion)")
        }
    }

    // MARK: policies

    public func policyPath(_ reference: String) throws(DefinitionError) -> String {
        if reference.hasSuffix(".yaml") || reference.hasSuffix(".yml") {
            guard source.isFile(reference) else { throw problem(reference, "no such policy file") }
            return reference
        }
        let named = joinPath(root, "policies", reference + ".yaml")
        if source.isFile(named) { return named }
        let known = source.list(joinPath(root, "policies")).filter { $0.hasSuffix(".yaml") }.map {
            String($0.dropLast(5))
        }
        let suggestion = closestMatch(to: reference, in: known).map { " (did you mean '\($0)'?)" } ?? ""
        throw problem(
            reference,
            "no policy '\(reference)'\(suggestion): looked for \(named)"
                + (known.isEmpty ? "" : "; policies here: \(known.joined(separator: ", "))"))
    }

    public func loadPolicy(_ reference: String) throws(DefinitionError) -> Policy {
        let path = try policyPath(reference)
        return try Policy.parse(read(path, as: .policy), file: path)
    }
}
