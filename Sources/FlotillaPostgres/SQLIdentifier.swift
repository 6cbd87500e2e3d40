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
