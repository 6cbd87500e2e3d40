import FlotillaSQL

/// The pieces of SQL the patterns generate: names quoted only where PostgreSQL needs it, string literals, derived
/// object names within the 63-byte limit, and the preflight that checks a tenant before a phase changes anything.
enum PatternSQL {
    /// The dollar-quote tag of generated PL/pgSQL bodies; expressions may not contain it.
    static let tag = "$flotilla$"

    /// A name as SQL: bare when it is lower case and not a reserved word, else double-quoted.
    static func ident(_ name: String) -> String {
        quoteIdentifierIfNeeded(name)
    }

    /// A string literal.
    static func literal(_ text: String) -> String {
        quoteLiteral(text)
    }

    /// `to_regclass('name')`: the table as the tenant's search_path finds it.
    static func regclass(_ table: String) -> String {
        "to_regclass(\(literal(ident(table))))"
    }

    /// A name made of parts joined by `_`, cut to 63 bytes with a short hash when longer, so it stays unique.
    static func derivedName(_ parts: [String]) -> String {
        let name = parts.joined(separator: "_")
        guard name.utf8.count > 63 else { return name }
        let hash = String(SHA256.hex(of: name).prefix(8))
        var prefix = ""
        for character in name {
            if prefix.utf8.count + String(character).utf8.count > 54 { break }
            prefix.append(character)
        }
        return prefix + "_" + hash
    }

    /// The trigger (and its function) that keeps a column's companion in sync while a pattern runs.
    static func syncTrigger(table: String, column: String) -> String {
        derivedName([table, column, "flotilla_sync"])
    }

    /// A comment: one `-- ` line per line of text, wrapped at about 110 columns.
    static func comment(_ text: String) -> String { sqlComment(text) }

    /// Statements joined one per line, each ending with `;` (comments left as they are).
    static func script(_ statements: [String]) -> String {
        statements.map { $0.hasPrefix("--") || $0.hasSuffix(";") ? $0 : $0 + ";" }.joined(separator: "\n")
    }

    // MARK: preflight

    /// One thing a pattern needs to hold in the tenant before a phase changes anything.
    enum Check: Hashable {
        case table(String)
        case column(String, in: String)
        case noColumn(String, in: String)
        /// The integer column backfill batches are ranged on.
        case integerKey(String, in: String)
        /// A column writers may leave out: nullable, or with a default.
        case omittable(String, in: String)
        case notInPrimaryKey(String, in: String)
        case noConstraint(String, on: String)
    }

    /// `DO` block that raises an error naming the pattern and what is missing when a check fails, so the phase stops
    /// before it changes anything; runs first in the phase's transaction.
    static func preflight(_ pattern: String, _ checks: [Check]) -> String {
        var body: [String] = []
        func fail(_ condition: String, _ message: String, _ code: String) {
            let text = "flotilla preflight (\(pattern)): \(message)".replacing("%", with: "%%")
            body.append(
                "    IF \(condition) THEN RAISE EXCEPTION \(literal(text)) USING ERRCODE = \(literal(code)); END IF;")
        }
        func attribute(_ column: String, _ table: String, _ extra: String = "") -> String {
            "SELECT FROM pg_attribute WHERE attrelid = \(regclass(table)) AND attname = \(literal(column))"
                + " AND attnum > 0 AND NOT attisdropped\(extra)"
        }
        for check in checks {
            switch check {
            case .table(let table):
                fail(
                    "NOT EXISTS (SELECT FROM pg_class WHERE oid = \(regclass(table)) AND relkind IN ('r', 'p'))",
                    "table \(table) does not exist in this tenant", "42P01")
            case .column(let column, let table):
                fail("NOT EXISTS (\(attribute(column, table)))", "table \(table) has no column \(column)", "42703")
            case .noColumn(let column, let table):
                fail("EXISTS (\(attribute(column, table)))", "table \(table) already has a column \(column)", "42701")
            case .integerKey(let column, let table):
                fail(
                    "NOT EXISTS (\(attribute(column, table, " AND atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)")))",
                    "batches range on \(table).\(column), which must be an integer column (set key: to another)",
                    "42804")
            case .omittable(let column, let table):
                fail(
                    "EXISTS (\(attribute(column, table, " AND attnotnull AND NOT atthasdef")))",
                    "\(table).\(column) is NOT NULL without a default, so a release that no longer writes it cannot insert rows; make it nullable first",
                    "55000")
            case .notInPrimaryKey(let column, let table):
                fail(
                    "EXISTS (SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) WHERE i.indrelid = \(regclass(table)) AND i.indisprimary AND a.attname = \(literal(column)))",
                    "\(table).\(column) is part of the primary key", "55000")
            case .noConstraint(let name, let table):
                fail(
                    "EXISTS (SELECT FROM pg_constraint WHERE conrelid = \(regclass(table)) AND conname = \(literal(name)))",
                    "table \(table) already has a constraint \(name)", "42710")
            }
        }
        return "DO \(tag)\nBEGIN\n" + body.joined(separator: "\n") + "\nEND\n\(tag);"
    }

    /// `DO` block that gives `target` the default `source` has, if any (catalog only: applies to new rows).
    static func copyDefault(table: String, from source: String, to target: String) -> String {
        """
        DO \(tag)
        DECLARE
            expression text := (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = \(regclass(table)) AND a.attname = \(literal(source)));
        BEGIN
            IF expression IS NOT NULL THEN
                EXECUTE format('ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s', \(literal(ident(table))), \(literal(ident(target))), expression);
            END IF;
        END
        \(tag);
        """
    }
}

extension PatternSQL {
    /// Why `text` cannot be pasted into generated SQL as one expression, or nil when it can: it must be non-empty,
    /// with balanced parentheses and closed quotes, and without `;`, comments or dollar quotes, which would change
    /// the statement around it.
    static func expressionProblem(_ text: String) -> String? {
        let scalars = Array(text.unicodeScalars)
        if text.trimmingWhitespace().isEmpty { return "is empty" }
        var depth = 0
        var index = 0
        var previous: Unicode.Scalar?
        while index < scalars.count {
            let scalar = scalars[index]
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            switch scalar {
            case "'", "\"":
                var end = index + 1
                while end < scalars.count {
                    if scalars[end] == scalar {
                        if end + 1 < scalars.count, scalars[end + 1] == scalar {
                            end += 2
                            continue
                        }
                        break
                    }
                    end += 1
                }
                if end >= scalars.count { return "has an unclosed \(scalar == "'" ? "string" : "quoted name")" }
                index = end
            case ";": return "contains ';' (one expression only)"
            case "-" where next == "-", "/" where next == "*": return "contains a comment"
            case "$":
                let partOfName = previous.map { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
                if partOfName != true { return "contains '$' (no dollar quotes or parameters)" }
            case "(": depth += 1
            case ")":
                depth -= 1
                if depth < 0 { return "has a ')' without its '('" }
            default: break
            }
            previous = scalars[index]
            index += 1
        }
        return depth == 0 ? nil : "has a '(' without its ')'"
    }

    /// Why `text` is not a type name like `bigint`, `varchar(20)`, `numeric(10, 2)`, `text[]` or
    /// `timestamp with time zone`, or nil when it is one.
    static func typeProblem(_ text: String) -> String? {
        if text.trimmingWhitespace().isEmpty { return "is empty" }
        var depth = 0
        for scalar in text.unicodeScalars {
            let ok =
                scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                || " _,.[]\"".unicodeScalars.contains(scalar)
            if scalar == "(" {
                depth += 1
            } else if scalar == ")" {
                depth -= 1
                if depth < 0 { return "has a ')' without its '('" }
            } else if !ok {
                return "contains '\(scalar)'"
            }
        }
        return depth == 0 ? nil : "has a '(' without its ')'"
    }
}
