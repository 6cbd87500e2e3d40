/// Quotes a name for use as an SQL identifier (schema, table, column, database, role).
///
/// The result is always a delimited identifier: wrapped in double quotes with every inner `"`
/// doubled, so no name can end the identifier and inject SQL. PostgreSQL cannot store a NUL
/// character in a name, so NULs are removed. An empty name yields `""`, which PostgreSQL rejects
/// as a zero-length identifier rather than silently naming something else.
///
/// Names are kept exactly as written: `quoteIdentifier("Users")` names `Users`, not `users`.
/// PostgreSQL truncates identifiers longer than 63 bytes (with a notice).
public func quoteIdentifier(_ name: String) -> String {
    var quoted = "\""
    for scalar in name.unicodeScalars where scalar != "\0" {
        if scalar == "\"" { quoted.unicodeScalars.append("\"") }
        quoted.unicodeScalars.append(scalar)
    }
    quoted.unicodeScalars.append("\"")
    return quoted
}

/// Quotes each part with ``quoteIdentifier(_:)`` and joins them with dots:
/// `quoteQualified("tenant_a", "users")` is `"tenant_a"."users"`.
public func quoteQualified(_ parts: String...) -> String {
    quoteQualified(parts)
}

/// Quotes each part with ``quoteIdentifier(_:)`` and joins them with dots.
public func quoteQualified(_ parts: [String]) -> String {
    parts.map(quoteIdentifier).joined(separator: ".")
}

/// A name as it reads best in generated SQL: bare when PostgreSQL reads it back unchanged (lower case letters,
/// digits, `_` and `$`, not starting with a digit or `$`, and not a reserved key word), else quoted with
/// ``quoteIdentifier(_:)``. Both forms name the same object.
public func quoteIdentifierIfNeeded(_ name: String) -> String {
    let simple =
        name.unicodeScalars.first.map { $0 == "_" || ("a"..."z").contains($0) } == true
        && name.unicodeScalars.allSatisfy {
            $0 == "_" || $0 == "$" || ("a"..."z").contains($0) || ("0"..."9").contains($0)
        }
    return simple && !reservedKeywords.contains(name) ? name : quoteIdentifier(name)
}

/// Quotes text as an SQL string literal: wrapped in single quotes with every inner `'` doubled.
///
/// Text with a backslash becomes an escape string (`E'…'`) with every backslash doubled, as PostgreSQL's own
/// `quote_literal` does, so the literal means the same text whatever `standard_conforming_strings` is. PostgreSQL
/// cannot store a NUL character in text, so NULs are removed.
public func quoteLiteral(_ text: String) -> String {
    var quoted = "'"
    var escaped = false
    for scalar in text.unicodeScalars where scalar != "\0" {
        if scalar == "'" { quoted.unicodeScalars.append("'") }
        if scalar == "\\" {
            quoted.unicodeScalars.append("\\")
            escaped = true
        }
        quoted.unicodeScalars.append(scalar)
    }
    quoted.unicodeScalars.append("'")
    return escaped ? "E" + quoted : quoted
}

/// PostgreSQL's reserved key words: as column or table names they need quotes.
private let reservedKeywords: Set<String> = [
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "binary",
    "both",
    "case", "cast", "check", "collate", "collation", "column", "concurrently", "constraint", "create", "cross",
    "current_catalog", "current_date", "current_role", "current_schema", "current_time", "current_timestamp",
    "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch",
    "for", "foreign", "freeze", "from", "full", "grant", "group", "having", "ilike", "in", "initially", "inner",
    "intersect", "into", "is", "isnull", "join", "lateral", "leading", "left", "like", "limit", "localtime",
    "localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or", "order", "outer",
    "overlaps", "placing", "primary", "references", "returning", "right", "select", "session_user", "similar",
    "some", "symmetric", "system_user", "table", "tablesample", "then", "to", "trailing", "true", "union", "unique",
    "user", "using", "variadic", "verbose", "when", "where", "window", "with",
]
