extension Change {
    static let keys = ["change", "description", "requires", "phases", "pattern"]
    static let phaseKeys = ["name", "up", "down", "verify", "backfill", "gate", "reversible", "transaction", "ignore"]
    static let backfillKeys = ["table", "set", "where", "key", "pause", "revert"] + BatchSizing.keys
    /// Every phase goes through every wave before the next starts, each with its journal rows and bakes: a change
    /// with more phases than this is a mistake (or a generated file gone wrong), not a rollout anyone can follow.
    static let maxPhases = 100

    /// Reads and checks a change file.
    public static func parse(_ text: String, file: String) throws(DefinitionError) -> Change {
        let reader = DefinitionReader(file: file)
        guard let root = try YAMLNode.parse(text, file: file) else {
            throw DefinitionError([
                Diagnostic(
                    at: SourceLocation(file: file, line: 1, column: 1),
                    "the file is empty; expected a change definition")
            ])
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let change = decode(root, reader: reader, lines: lines)
        try reader.diagnostics.check()
        return change!
    }

    static func decode(_ root: YAMLNode, reader: DefinitionReader, lines: [String]) -> Change? {
        guard let object = reader.object(root, "", what: "a change", keys: keys, required: ["change"]) else {
            return nil
        }
        let id = object.string("change") ?? ""
        if object.has("change"), !id.isEmpty, let problem = nameProblem(id) {
            reader.error(at: object.location("change"), "change", "change id '\(id)' \(problem)")
        }
        // A zero-downtime pattern expands into its phases (Patterns/).
        let expanded = patternPhases(object, reader: reader)
        if !object.has("phases"), !object.has("pattern") {
            reader.error(root, "phases", "missing required key 'phases' in a change")
        }
        let requires = object.has("requires") ? object.stringList("requires", what: "change ids") ?? [] : []
        // Where each required id is written, for errors about it (a cycle, an undefined change).
        let requirementLocations = object.stringLocations("requires")
        var phases: [Phase] = expanded ?? []
        let phaseNodes = object.list("phases", what: "phases") ?? []
        if phaseNodes.count > maxPhases {
            reader.error(
                at: object.location("phases"), "phases",
                "a change has at most \(maxPhases) phases, found \(phaseNodes.count); split it into several changes")
            return nil
        }
        for (index, node) in phaseNodes.enumerated() {
            let path = "phases[\(index)]"
            guard let phase = reader.object(node, path, what: "a phase", keys: phaseKeys, required: ["name"]),
                let name = phase.string("name")
            else { continue }
            if let problem = nameProblem(name) {
                reader.error(at: phase.location("name"), phase.at("name"), "phase name '\(name)' \(problem)")
            }
            if let previous = phases.first(where: { $0.name == name }) {
                reader.error(
                    at: phase.location("name"), phase.at("name"),
                    "duplicate phase name '\(name)' (first defined at line \(previous.location.line))")
                continue
            }
            func sql(_ key: String) -> SQLText? {
                guard let node = phase.node(key), let text = reader.string(node, phase.at(key), allowEmpty: true) else {
                    return nil
                }
                if text.trimmingWhitespace().isEmpty {
                    reader.error(node, phase.at(key), "expected SQL, found an empty string")
                    return nil
                }
                let shape: SQLShape = key == "verify" ? .query : .script
                guard reader.checkSQL(text, in: node, phase.at(key), key: key, shape: shape, lines: lines) else {
                    return nil
                }
                return sqlText(text, node: node, lines: lines)
            }
            let up = sql("up")
            let down = sql("down")
            let verify = sql("verify")
            var backfill: Backfill?
            if let spec = phase.object(
                "backfill", what: "a backfill", keys: backfillKeys, required: ["table", "set"])
            {
                backfill = decodeBackfill(spec, reader: reader, lines: lines)
            }
            if !phase.has("up"), !phase.has("backfill") {
                reader.error(node, path, "phase '\(name)' does nothing: give it 'up' SQL or a 'backfill'")
            }
            let reversible = phase.bool("reversible")
            if reversible == true, down == nil, !(backfill != nil && up == nil) {
                reader.error(
                    at: phase.location("reversible"), phase.at("reversible"),
                    "phase '\(name)' says reversible: true but has no 'down' SQL to revert it with")
            }
            var ignores: [LintAcknowledgement] = []
            for (i, item) in (phase.list("ignore", what: "acknowledged lint rules") ?? []).enumerated() {
                guard
                    let ack = reader.object(
                        item, phase.at("ignore") + "[\(i)]", what: "an acknowledgement", keys: ["rule", "reason"],
                        required: ["rule", "reason"]),
                    let rule = ack.string("rule"), let reason = ack.string("reason")
                else { continue }
                ignores.append(LintAcknowledgement(rule: rule, reason: reason))
            }
            phases.append(
                Phase(
                    name: name, up: up, down: down, verify: verify, backfill: backfill,
                    gate: phase.oneOf("gate", Phase.Gate.self), reversible: reversible,
                    transaction: phase.oneOf("transaction", Phase.TransactionMode.self) ?? .auto, ignore: ignores,
                    location: node.location))
        }
        if object.has("phases"), phases.isEmpty, !reader.diagnostics.hasErrors {
            reader.error(at: object.location("phases"), "phases", "a change needs at least one phase")
        }
        var change = Change(
            id: id, description: object.string("description"), requires: requires, phases: phases, file: reader.file,
            location: root.location)
        change.requirementLocations = requirementLocations
        return change
    }

    static func decodeBackfill(_ spec: ObjectReader, reader: DefinitionReader, lines: [String]) -> Backfill? {
        guard let table = spec.string("table"), let set = spec.string("set") else { return nil }
        for (key, value) in [("table", table), ("key", spec.string("key") ?? "id")] {
            if let problem = identifierProblem(value, reserved: false) {
                reader.error(at: spec.location(key), spec.at(key), "\(key) name '\(value)' \(problem)")
            }
        }
        // The engine pastes these into its own batch statement (see Backfill): each must stay one expression there,
        // or a stray ')' or ';' would change which rows a batch takes and the keyset would never advance.
        let shapes: [(key: String, shape: SQLShape)] = [("set", .setList), ("where", .fragment), ("revert", .setList)]
        for (key, shape) in shapes {
            guard let node = spec.node(key), let text = spec.string(key) else { continue }
            reader.checkSQL(text, in: node, spec.at(key), key: key, shape: shape, lines: lines)
        }
        let sizing = BatchSizing.decode(spec)
        return Backfill(
            table: table, set: set, whereClause: spec.string("where"), key: spec.string("key") ?? "id",
            batchSize: sizing.sizing.first,
            pause: spec.duration("pause") ?? .zero, revert: spec.string("revert"), minBatch: sizing.minimum,
            maxBatch: sizing.maximum, targetBatchTime: sizing.target)
    }

    /// Where the SQL of a scalar starts in the file: block scalars start on the next line at their indent.
    static func sqlText(_ text: String, node: YAMLNode, lines: [String]) -> SQLText {
        let line = node.location.line
        switch node.value {
        case .scalar(_, .block):
            var index = line  // 0-based index of the line after the indicator
            while index < lines.count, lines[index].trimmingWhitespace().isEmpty { index += 1 }
            let indent = index < lines.count ? lines[index].prefix(while: { $0 == " " }).count : 0
            return SQLText(text, lineOffset: line, columnOffset: indent)
        case .scalar(_, .quoted):
            return SQLText(text, lineOffset: line - 1, columnOffset: node.location.column)
        default:
            return SQLText(text, lineOffset: line - 1, columnOffset: node.location.column - 1)
        }
    }
}
