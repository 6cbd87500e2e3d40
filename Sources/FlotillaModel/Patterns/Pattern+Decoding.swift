extension Pattern {
    static let batchKeys = ["key", "pause"] + BatchSizing.keys

    /// The parameters each pattern takes, and which of them it needs.
    static let parameters: [String: (keys: [String], required: [String])] = [
        "add-column": (
            ["table", "column", "type", "default", "not_null", "backfill"] + batchKeys, ["table", "column", "type"]
        ),
        "rename-column": (["table", "column", "to"] + batchKeys, ["table", "column", "to"]),
        "drop-column": (["table", "column"], ["table", "column"]),
        "change-type": (
            ["table", "column", "type", "using", "shadow", "old", "default"] + batchKeys, ["table", "column", "type"]
        ),
        "add-index": (["table", "columns", "name", "unique", "method", "where"], ["table", "columns"]),
        "add-constraint": (["table", "name", "check"], ["table", "name", "check"]),
        "add-foreign-key": (
            ["table", "columns", "references", "referenced_columns", "name", "on_delete"],
            ["table", "columns", "references"]
        ),
    ]

    /// The canonical name of a pattern name or alias.
    static func canonical(_ name: String) -> String {
        switch name {
        case "add-column-not-null": return "add-column"
        case "shadow-column": return "change-type"
        default: return name
        }
    }

    /// Reads `pattern: {NAME: {parameters…}}`, reporting every problem at its place; nil when it is not usable.
    /// Returns the pattern and the node its phases point at (the pattern's name).
    static func decode(_ node: YAMLNode, path: String, reader: DefinitionReader) -> (Pattern, YAMLNode)? {
        let known = names.joined(separator: ", ")
        if let text = node.scalar, !node.isNull {
            if names.contains(text) {
                let required = parameters[canonical(text)]?.required ?? []
                let example = required.map { "\($0): …" }.joined(separator: ", ")
                reader.error(
                    node, path, "pattern '\(text)' needs its parameters: write 'pattern: {\(text): {\(example)}}'")
            } else {
                unknown(text, node: node, path: path, reader: reader)
            }
            return nil
        }
        guard case .mapping(let pairs) = node.value else {
            reader.error(
                node, path, "expected a pattern (a mapping of its name to its parameters), found \(node.kindName)")
            return nil
        }
        guard pairs.count == 1, let name = pairs[0].key.scalar else {
            reader.error(
                node, path,
                "expected one pattern (its name, then its parameters), found \(pairs.count) keys; patterns: \(known)")
            return nil
        }
        let nameNode = pairs[0].key
        guard names.contains(name) else {
            unknown(name, node: nameNode, path: path, reader: reader)
            return nil
        }
        let kind = canonical(name)
        let spec = parameters[kind]!
        guard
            let object = reader.object(
                pairs[0].value, reader.join(path, name), what: "\(name) parameters", keys: spec.keys,
                required: spec.required)
        else { return nil }
        let errors = reader.diagnostics.errors.count
        let p = ParameterReader(object: object, reader: reader)
        let pattern: Pattern?
        switch kind {
        case "add-column":
            let column = AddColumn(
                table: p.name("table") ?? "", column: p.name("column", new: true) ?? "", type: p.type("type") ?? "",
                defaultValue: p.expression("default"),
                notNull: object.bool("not_null") ?? (name == "add-column-not-null"),
                backfill: p.expression("backfill"), batches: p.batches())
            if column.notNull, column.defaultValue == nil, column.backfill == nil, object.has("column") {
                reader.error(
                    object.node, object.path,
                    "a NOT NULL column needs 'default:' or 'backfill:' to fill the rows that already exist")
            }
            pattern = .addColumn(column)
        case "rename-column":
            let rename = RenameColumn(
                table: p.name("table") ?? "", column: p.name("column") ?? "", to: p.name("to", new: true) ?? "",
                batches: p.batches())
            p.distinct("to", rename.to, from: rename.column)
            pattern = .renameColumn(rename)
        case "drop-column":
            pattern = .dropColumn(DropColumn(table: p.name("table") ?? "", column: p.name("column") ?? ""))
        case "change-type":
            let change = ChangeType(
                table: p.name("table") ?? "", column: p.name("column") ?? "", type: p.type("type") ?? "",
                using: p.expression("using"), shadow: p.name("shadow", new: true), old: p.name("old", new: true),
                defaultValue: p.expression("default"), batches: p.batches())
            p.distinct("shadow", change.shadow, from: change.column)
            p.distinct("old", change.old, from: change.column)
            p.distinct("old", change.old, from: change.shadow)
            pattern = .changeType(change)
        case "add-index":
            var columns: [String] = []
            for (index, text) in (object.stringList("columns", what: "columns or expressions") ?? []).enumerated() {
                let at = object.at("columns") + (object.node("columns")?.scalar == nil ? "[\(index)]" : "")
                if let problem = PatternSQL.expressionProblem(text) {
                    reader.error(at: object.location("columns"), at, "index column '\(text)' \(problem)")
                }
                columns.append(text)
            }
            if object.has("columns"), columns.isEmpty {
                reader.error(at: object.location("columns"), object.at("columns"), "an index needs at least one column")
            }
            var method: String?
            if let text = object.string("method") {
                if let problem = identifierProblem(text, reserved: false) {
                    reader.error(
                        at: object.location("method"), object.at("method"), "index method '\(text)' \(problem)")
                }
                method = text
            }
            pattern = .addIndex(
                AddIndex(
                    table: p.name("table") ?? "", columns: columns, name: p.name("name", new: true),
                    unique: object.bool("unique") ?? false, method: method, whereClause: p.expression("where")))
        case "add-constraint":
            pattern = .addConstraint(
                AddConstraint(
                    table: p.name("table") ?? "", name: p.name("name", new: true) ?? "",
                    check: p.expression("check") ?? ""))
        default:
            var onDelete: String?
            if let text = object.string("on_delete") {
                let action = text.lowercased().split(separator: " ").joined(separator: " ")
                if AddForeignKey.deleteActions.contains(action) {
                    onDelete = action
                } else {
                    reader.error(
                        at: object.location("on_delete"), object.at("on_delete"),
                        "expected one of \(humanList(AddForeignKey.deleteActions)), found '\(text)'")
                }
            }
            pattern = .addForeignKey(
                AddForeignKey(
                    table: p.name("table") ?? "", columns: p.names("columns"), references: p.name("references") ?? "",
                    referencedColumns: p.names("referenced_columns"), name: p.name("name", new: true),
                    onDelete: onDelete))
        }
        guard reader.diagnostics.errors.count == errors, let pattern else { return nil }
        return (pattern, nameNode)
    }

    static func unknown(_ name: String, node: YAMLNode, path: String, reader: DefinitionReader) {
        let suggestion = closestMatch(to: name, in: names).map { " (did you mean '\($0)'?)" } ?? ""
        reader.error(
            node, path, "unknown pattern '\(name)'\(suggestion); patterns: \(names.joined(separator: ", "))")
    }
}

/// Typed, checked access to a pattern's parameters; problems are reported at the value's place.
private struct ParameterReader {
    let object: ObjectReader
    let reader: DefinitionReader

    /// A table or column name; `new` for names the pattern creates (not `pg_…`).
    func name(_ key: String, new: Bool = false) -> String? {
        guard let text = object.string(key) else { return nil }
        if let problem = identifierProblem(text, reserved: new) {
            reader.error(at: object.location(key), object.at(key), "\(key) '\(text)' \(problem)")
        }
        return text
    }

    /// One name or a list of names.
    func names(_ key: String) -> [String] {
        guard object.has(key) else { return [] }
        let names = object.stringList(key, what: "column names") ?? []
        for text in names {
            if let problem = identifierProblem(text, reserved: false) {
                reader.error(at: object.location(key), object.at(key), "column name '\(text)' \(problem)")
            }
        }
        if names.isEmpty { reader.error(at: object.location(key), object.at(key), "expected at least one column name") }
        return names
    }

    func type(_ key: String) -> String? {
        guard let text = object.string(key) else { return nil }
        if let problem = PatternSQL.typeProblem(text) {
            reader.error(at: object.location(key), object.at(key), "type '\(text)' \(problem)")
        }
        return text.trimmingWhitespace()
    }

    /// SQL pasted into generated statements: one expression.
    func expression(_ key: String) -> String? {
        guard let text = object.string(key) else { return nil }
        if let problem = PatternSQL.expressionProblem(text) {
            reader.error(at: object.location(key), object.at(key), "\(key) expression '\(text)' \(problem)")
        }
        return text.trimmingWhitespace()
    }

    func batches() -> Pattern.Batches {
        let given = BatchSizing.decode(object)
        return Pattern.Batches(
            key: name("key") ?? "id", size: given.sizing.first, pause: object.duration("pause") ?? Pattern.defaultPause,
            minBatch: given.minimum, maxBatch: given.maximum, targetBatchTime: given.target)
    }

    /// Two names a pattern needs to differ.
    func distinct(_ key: String, _ name: String, from other: String) {
        if !name.isEmpty, name == other {
            reader.error(at: object.location(key), object.at(key), "\(key) '\(name)' is the same name as '\(other)'")
        }
    }
}

extension Pattern {
    /// Pause between backfill batches when a pattern does not say (the engine backs off on its own when lock waits
    /// rise).
    public static let defaultPause: Duration = .milliseconds(2)
}

extension Change {
    /// The phases of a change's `pattern:`; nil when it has none, or it is invalid (the problems are reported).
    static func patternPhases(_ object: ObjectReader, reader: DefinitionReader) -> [Phase]? {
        guard let node = object.node("pattern") else { return nil }
        if object.has("phases") {
            reader.error(
                at: object.location("pattern"), "pattern",
                "a change has either 'phases:' or 'pattern:', not both; remove one")
            return nil
        }
        guard let (pattern, at) = Pattern.decode(node, path: "pattern", reader: reader) else { return nil }
        return pattern.phases(at: at.location)
    }
}
