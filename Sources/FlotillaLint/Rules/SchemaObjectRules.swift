extension StatementAnalyzer {
    /// `ALTER SCHEMA name RENAME TO new`; the other forms (`OWNER TO`) are catalog-only.
    mutating func analyzeAlterSchema(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("alter", "schema")
        guard let name = cursor.identifier(), cursor.accept("rename", "to") else { return [] }
        let newName = cursor.identifier() ?? "?"
        let verdict = Verdict(
            .renameSchema, "ALTER SCHEMA \(name) RENAME TO \(newName)",
            advice: "every query and search_path that names \(name) fails at once, and in a schema-per-tenant "
                + "fleet the tenant whose `schema:` is \(name) disappears from under Flotilla; there is no online "
                + "path: leave tenant schemas to the fleet definition, and move objects with ALTER TABLE … SET "
                + "SCHEMA and the alias pattern instead"
        )
        if state.isCreatedSchema(name) {
            return [verdict.exempted(because: "the schema is created in this change")]
        }
        return [verdict]
    }

    /// `ALTER DOMAIN name ADD [CONSTRAINT c] CHECK (…) | NOT NULL [NOT VALID]`, `VALIDATE CONSTRAINT c`,
    /// `SET NOT NULL`: each checks every column of the domain in every table.
    mutating func analyzeAlterDomain(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("alter", "domain")
        guard let domain = cursor.qualifiedName() else { return [] }
        let rest = cursor.rest
        let notValid = zip(rest, rest.dropFirst()).contains { $0.isKeyword("not") && $1.isKeyword("valid") }
        let what: String
        if cursor.accept("add") {
            guard !notValid else { return [] }
            what = "ALTER DOMAIN \(domain) ADD CONSTRAINT"
        } else if cursor.accept("validate", "constraint") {
            what = "ALTER DOMAIN \(domain) VALIDATE CONSTRAINT \(cursor.identifier() ?? "?")"
        } else if cursor.accept("set", "not", "null") {
            what = "ALTER DOMAIN \(domain) SET NOT NULL"
        } else {
            return []
        }
        return [
            Verdict(
                .alterDomainAddConstraint, what,
                advice: "it checks every column of type \(domain) in every table, holding SHARE on each (writes "
                    + "blocked) for the whole scan, and NOT VALID then VALIDATE does not help before PostgreSQL 18; "
                    + "validation then enforcement on the columns instead: ALTER TABLE … ADD CONSTRAINT … CHECK "
                    + "(…) NOT VALID on each table, then VALIDATE CONSTRAINT in a later phase"
            )
        ]
    }

    /// `CREATE DOMAIN name [AS] type [DEFAULT …] [CONSTRAINT c] CHECK (…) | NOT NULL`.
    func analyzeCreateDomain(_ cursor: TokenCursor) -> [Verdict] {
        var cursor = cursor
        let name = cursor.qualifiedName().map(\.description) ?? "?"
        let rest = cursor.rest
        let constrained =
            rest.contains { $0.isKeyword("check") }
            || zip(rest, rest.dropFirst()).contains { $0.isKeyword("not") && $1.isKeyword("null") }
        guard constrained else { return [] }
        return [
            Verdict(
                .createDomainWithConstraint, "CREATE DOMAIN \(name) with a constraint",
                advice: "harmless today, but adding or validating a constraint of \(name) later checks every column "
                    + "of that type in every table under SHARE; put the CHECK on each column as a table constraint "
                    + "(NOT VALID, then VALIDATE CONSTRAINT), and keep the domain unconstrained"
            )
        ]
    }

    /// `ALTER TYPE name RENAME VALUE 'old' TO 'new'`; `ADD VALUE` and the rest are catalog-only.
    mutating func analyzeAlterType(_ start: TokenCursor) -> [Verdict] {
        var cursor = start
        cursor.accept("alter", "type")
        guard let type = cursor.qualifiedName(), cursor.accept("rename", "value") else { return [] }
        let old = cursor.advance()?.text ?? "?"
        cursor.accept("to")
        let new = cursor.advance()?.text ?? "?"
        return [
            Verdict(
                .renameEnumValue, "ALTER TYPE \(type) RENAME VALUE \(old) TO \(new)",
                advice: "running code that writes or compares \(old) fails or matches nothing from the moment it "
                    + "commits; multi-phase approach: ADD VALUE \(new), make the application accept both and "
                    + "write \(new), UPDATE the rows in a backfill phase, then stop accepting \(old)"
            )
        ]
    }
}
