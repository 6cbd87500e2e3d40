extension Workspace {
    /// Checks the `requires` of a fleet's changes together: a change that requires itself, and every cycle, is an
    /// error at the `requires` entry that closes it. `changes` may be a part of the fleet's changes (those read so
    /// far); requirements outside it are not followed.
    func checkRequirementCycles(_ changes: [Change], into diagnostics: inout Diagnostics) {
        let byID = Dictionary(changes.map { ($0.id, $0) }) { first, _ in first }
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var path: [String] = []
        func visit(_ change: Change) {
            marks[change.id] = .visiting
            path.append(change.id)
            for required in change.requires {
                if required == change.id {
                    diagnostics.error(
                        change.location(ofRequirement: required), "requires", "change '\(change.id)' requires itself")
                    continue
                }
                guard let next = byID[required] else { continue }
                switch marks[required] {
                case .visiting:
                    let start = path.lastIndex(of: required) ?? 0
                    let cycle = (path[start...] + [required]).joined(separator: " → ")
                    diagnostics.error(
                        change.location(ofRequirement: required), "requires",
                        "change '\(change.id)' requires '\(required)', which requires it in turn (a cycle: \(cycle))")
                case .done: continue
                case nil: visit(next)
                }
            }
            path.removeLast()
            marks[change.id] = .done
        }
        for change in changes.sorted(by: { $0.id < $1.id }) where marks[change.id] == nil { visit(change) }
    }

    /// The changes `change` requires, directly or through others, read from the fleet's `changes/`, each after what it
    /// requires (ties in id order), without `change` itself. An undefined requirement or a cycle is an error at its
    /// place.
    public func requiredChanges(of change: Change, fleet: Fleet) throws(DefinitionError) -> [Change] {
        var loaded: [String: Change] = [change.id: change]
        var queue = change.requires
        var diagnostics = Diagnostics()
        let known = changeIDs(of: fleet)
        while let id = queue.popLast() {
            if loaded[id] != nil || !known.contains(id) { continue }
            let required = try loadChangeFile(id, fleet: fleet)
            checkRequires(required, known: known, into: &diagnostics)
            loaded[id] = required
            queue += required.requires
        }
        checkRequires(change, known: known, into: &diagnostics)
        checkRequirementCycles(Array(loaded.values), into: &diagnostics)
        try diagnostics.check()
        return Self.requirementOrder(loaded.values.filter { $0.id != change.id })
    }

    /// Every change of a fleet, each after what it requires (ties in id order): the order `converge` applies them in.
    public func loadChanges(of fleet: Fleet) throws(DefinitionError) -> [Change] {
        var changes: [Change] = []
        var problems: [Diagnostic] = []
        for id in changeIDs(of: fleet) {
            do { changes.append(try loadChangeFile(id, fleet: fleet)) } catch { problems += error.diagnostics }
        }
        var diagnostics = Diagnostics()
        diagnostics.append(contentsOf: problems)
        let known = changeIDs(of: fleet)
        for change in changes { checkRequires(change, known: known, into: &diagnostics) }
        checkRequirementCycles(changes, into: &diagnostics)
        try diagnostics.check()
        return Self.requirementOrder(changes)
    }

    /// `changes` ordered so that each comes after the ones it requires among them; otherwise in id order. The
    /// requirements must have no cycle.
    static func requirementOrder(_ changes: [Change]) -> [Change] {
        let sorted = changes.sorted { $0.id < $1.id }
        var placed: Set<String> = []
        var order: [Change] = []
        let ids = Set(sorted.map(\.id))
        while order.count < sorted.count {
            // The first (by id) change whose requirements are all placed; with no cycle there always is one.
            guard
                let next = sorted.first(where: { change in
                    !placed.contains(change.id)
                        && change.requires.allSatisfy { placed.contains($0) || !ids.contains($0) || $0 == change.id }
                })
            else { break }
            placed.insert(next.id)
            order.append(next)
        }
        return order
    }

    /// Reads one change file by its id, without checking its requirements.
    func loadChangeFile(_ id: String, fleet: Fleet) throws(DefinitionError) -> Change {
        let path = try changePath(id, fleet: fleet)
        return try Change.parse(read(path, as: .change), file: path)
    }
}
