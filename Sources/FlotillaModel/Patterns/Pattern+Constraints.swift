extension Pattern {
    /// `add-constraint`, validation then enforcement for a CHECK: added `NOT VALID` (new and updated rows are checked
    /// at once, the rows that exist are not scanned), then `VALIDATE CONSTRAINT` in a phase of its own, which scans
    /// without blocking reads or writes.
    public struct AddConstraint: Sendable, Hashable {
        public var table: String
        public var name: String
        /// The CHECK expression.
        public var check: String

        public init(table: String, name: String, check: String) {
            self.table = table
            self.name = name
            self.check = check
        }

        var summary: String {
            "adds the constraint \(name) CHECK (\(check)) on \(table): NOT VALID first, then VALIDATE in a phase of its own"
        }

        func phases(_ site: PatternSite) -> [Phase] {
            validatedConstraint(
                site, table: table, name: name, definition: "CHECK (\(check))", checks: [.table(table)],
                summary: summary)
        }
    }

    /// `add-foreign-key`, validation then enforcement for a foreign key: `NOT VALID`, then `VALIDATE CONSTRAINT` in a
    /// phase of its own.
    public struct AddForeignKey: Sendable, Hashable {
        public var table: String
        public var columns: [String]
        public var references: String
        /// The referenced columns; empty for the referenced table's primary key.
        public var referencedColumns: [String]
        public var name: String
        /// `cascade`, `restrict`, `set null`, `set default` or `no action`.
        public var onDelete: String?

        public init(
            table: String, columns: [String], references: String, referencedColumns: [String] = [],
            name: String? = nil, onDelete: String? = nil
        ) {
            self.table = table
            self.columns = columns
            self.references = references
            self.referencedColumns = referencedColumns
            self.name = name ?? PatternSQL.derivedName([table] + columns + ["fkey"])
            self.onDelete = onDelete
        }

        public static let deleteActions = ["cascade", "restrict", "set null", "set default", "no action"]

        var summary: String {
            let target =
                referencedColumns.isEmpty ? references : "\(references) (\(referencedColumns.joined(separator: ", ")))"
            return
                "adds the foreign key \(name) from \(table) (\(columns.joined(separator: ", "))) to \(target): NOT VALID first, then VALIDATE in a phase of its own"
        }

        func phases(_ site: PatternSite) -> [Phase] {
            var definition =
                "FOREIGN KEY (\(columns.map(PatternSQL.ident).joined(separator: ", "))) REFERENCES \(PatternSQL.ident(references))"
            if !referencedColumns.isEmpty {
                definition += " (\(referencedColumns.map(PatternSQL.ident).joined(separator: ", ")))"
            }
            if let onDelete { definition += " ON DELETE \(onDelete.uppercased())" }
            let checks: [PatternSQL.Check] =
                [.table(table)] + columns.map { .column($0, in: table) } + [.table(references)]
                + referencedColumns.map { .column($0, in: references) }
            return validatedConstraint(
                site, table: table, name: name, definition: definition, checks: checks, summary: summary)
        }
    }

    /// The two phases of validation then enforcement: `add` (NOT VALID) and `validate`.
    static func validatedConstraint(
        _ site: PatternSite, table: String, name: String, definition: String, checks: [PatternSQL.Check],
        summary: String
    ) -> [Phase] {
        let t = PatternSQL.ident(table)
        let n = PatternSQL.ident(name)
        let add = site.phase(
            "add",
            up: [
                PatternSQL.comment(
                    "\(site.pattern): \(summary). NOT VALID: new and updated rows are checked at once, the rows that exist are not scanned."
                ),
                PatternSQL.preflight(site.pattern, checks + [.noConstraint(name, on: table)]),
                "ALTER TABLE \(t) ADD CONSTRAINT \(n) \(definition) NOT VALID",
            ],
            down: ["ALTER TABLE \(t) DROP CONSTRAINT IF EXISTS \(n)"])
        let validate = site.phase(
            "validate",
            up: [
                PatternSQL.comment(
                    "\(site.pattern): VALIDATE scans the rows that exist without blocking reads or writes."),
                "ALTER TABLE \(t) VALIDATE CONSTRAINT \(n)",
            ],
            down: [PatternSQL.comment("nothing to undo: reverting phase add drops the constraint")])
        return [add, validate]
    }
}
