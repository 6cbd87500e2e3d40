/// PostgreSQL's rules for a name Flotilla creates or addresses: letters, digits, `_` and `$`, not starting
/// with a digit or `$`, at most 63 bytes. Names are always quoted when sent; this keeps them predictable.
public func identifierProblem(_ name: String, reserved: Bool = true) -> String? {
    if name.isEmpty { return "is empty" }
    if name.utf8.count > 63 { return "is longer than PostgreSQL's 63-byte limit" }
    guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
    else { return "must start with a letter or _" }
    for scalar in name.unicodeScalars {
        let ok =
            scalar == "_" || scalar == "$"
            || (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)))
        if !ok { return "contains '\(scalar)' (only letters, digits, _ and $ are allowed)" }
    }
    if !reserved { return nil }
    if name.lowercased().hasPrefix("pg_") { return "starts with pg_, which PostgreSQL reserves" }
    if name.lowercased() == "flotilla" { return "is reserved for Flotilla's control store" }
    return nil
}

/// A name for fleets, shards, tenants, phases, waves, checks: letters, digits, `-`, `_`, `.`.
public func nameProblem(_ name: String) -> String? {
    if name.isEmpty { return "is empty" }
    if name.count > 100 { return "is longer than 100 characters" }
    for character in name
    where !(character.isASCII && (character.isLetter || character.isNumber || "-_.".contains(character))) {
        return "contains '\(character)' (only letters, digits, '-', '_' and '.' are allowed)"
    }
    return nil
}

/// A tenant's schema: a name of its own. `public` is shared by every role and extension of the database, and
/// PostgreSQL keeps `pg_*` (`pg_catalog`, `pg_toast`, …) and `information_schema` for itself; changing or reverting
/// one of them as a tenant would reach far beyond that tenant.
public func tenantSchemaProblem(_ name: String) -> String? {
    if let problem = identifierProblem(name) { return problem }
    switch name.lowercased() {
    case "public": return "is shared by everything in the database; a tenant needs a schema of its own"
    case "information_schema": return "is PostgreSQL's own catalog schema; a tenant needs a schema of its own"
    default: return nil
    }
}

/// A tenant's database: a name of its own, not one PostgreSQL creates for itself (`postgres`, `template0`,
/// `template1`).
public func tenantDatabaseProblem(_ name: String) -> String? {
    if let problem = identifierProblem(name) { return problem }
    if ["postgres", "template0", "template1"].contains(name.lowercased()) {
        return "is one of PostgreSQL's own databases; a tenant needs a database of its own"
    }
    return nil
}
