extension Pattern {
    /// `add-column`: nullable, one phase (plus a backfill when `backfill:` fills the existing rows). NOT NULL: the
    /// column is added nullable (with its default when given), backfilled, then `CHECK (col IS NOT NULL) NOT VALID`,
    /// `VALIDATE`, `SET NOT NULL` (no scan: the validated check proves it) and the check dropped.
    public struct AddColumn: Sendable, Hashable {
        public var table: String
        public var column: String
        public var type: String
        /// SQL expression for new rows (and, without `backfill`, for the rows that exist).
        public var defaultValue: String?
        public var notNull: Bool
        /// SQL expression that fills the rows that exist (it may use their other columns).
        public var backfill: String?
        public var batches: Batches

        public init(
            table: String, column: String, type: String, defaultValue: String? = nil, notNull: Bool = false,
            backfill: String? = nil, batches: Batches = Batches()
        ) {
            self.table = table
            self.column = column
            self.type = type
            self.defaultValue = defaultValue
            self.notNull = notNull
            self.backfill = backfill
            self.batches = batches
        }

        /// What fills the rows that exist, when something has to.
        var fill: String? { backfill ?? (notNull ? defaultValue : nil) }
        var checkName: String { PatternSQL.derivedName([table, column, "not_null"]) }

        var summary: String {
            var text = "adds \(table).\(column) \(type)"
            if let defaultValue { text += " DEFAULT \(defaultValue)" }
            if let backfill { text += ", fills the rows that exist with \(backfill) in batches" }
            if notNull {
                if defaultValue == nil {
                    text += ", waits for approval that every release writes it"
                }
                text += ", then makes it NOT NULL without a long lock: CHECK NOT VALID, VALIDATE, SET NOT NULL"
            }
            return text
        }

        func phases(_ site: PatternSite) -> [Phase] {
            let t = PatternSQL.ident(table)
            let c = PatternSQL.ident(column)
            var checks: [PatternSQL.Check] = [.table(table), .noColumn(column, in: table)]
            if fill != nil { checks.append(.integerKey(batches.key, in: table)) }
            var expand = [
                PatternSQL.comment("\(site.pattern): \(summary)."), PatternSQL.preflight(site.pattern, checks),
            ]
            if backfill == nil {
                expand.append(
                    "ALTER TABLE \(t) ADD COLUMN \(c) \(type)" + (defaultValue.map { " DEFAULT \($0)" } ?? ""))
            } else {
                // The rows that exist get the backfill's value, not the default: add the column bare, then the default.
                expand.append("ALTER TABLE \(t) ADD COLUMN \(c) \(type)")
                if let defaultValue { expand.append("ALTER TABLE \(t) ALTER COLUMN \(c) SET DEFAULT \(defaultValue)") }
            }
            var phases = [
                site.phase("expand", up: expand, down: ["ALTER TABLE \(t) DROP COLUMN IF EXISTS \(c)"])
            ]
            if let fill {
                // Without a default, writers must set the column before its NULLs can be filled for good.
                let gate =
                    notNull && defaultValue == nil
                    ? "every release of the application now writes \(table).\(column) on insert; then its NULLs are filled and it becomes NOT NULL"
                    : nil
                phases.append(
                    site.phase(
                        "backfill",
                        verify: notNull ? "SELECT NOT EXISTS (SELECT FROM \(t) WHERE \(c) IS NULL)" : nil,
                        backfill: batches.backfill(table: table, set: "\(c) = \(fill)", where: "\(c) IS NULL"),
                        gate: gate))
            }
            guard notNull else { return phases }
            let check = PatternSQL.ident(checkName)
            let addCheck = "ALTER TABLE \(t) ADD CONSTRAINT \(check) CHECK (\(c) IS NOT NULL) NOT VALID"
            phases.append(
                site.phase(
                    "check",
                    up: [
                        PatternSQL.comment(
                            "\(site.pattern): NOT VALID: new and updated rows are checked at once, the rows that exist are not scanned."
                        ),
                        PatternSQL.preflight(
                            site.pattern, [.column(column, in: table), .noConstraint(checkName, on: table)]),
                        addCheck,
                    ],
                    down: ["ALTER TABLE \(t) DROP CONSTRAINT IF EXISTS \(check)"]))
            phases.append(
                site.phase(
                    "validate",
                    up: [
                        PatternSQL.comment(
                            "\(site.pattern): VALIDATE scans the rows under SHARE UPDATE EXCLUSIVE, which blocks neither reads nor writes."
                        ),
                        "ALTER TABLE \(t) VALIDATE CONSTRAINT \(check)",
                    ],
                    down: [PatternSQL.comment("nothing to undo: reverting phase check drops the constraint")]))
            phases.append(
                site.phase(
                    "enforce",
                    up: [
                        PatternSQL.comment(
                            "\(site.pattern): SET NOT NULL skips its scan because the validated check proves it; the check is then redundant."
                        ),
                        "ALTER TABLE \(t) ALTER COLUMN \(c) SET NOT NULL",
                        "ALTER TABLE \(t) DROP CONSTRAINT \(check)",
                    ],
                    down: ["ALTER TABLE \(t) ALTER COLUMN \(c) DROP NOT NULL", addCheck]))
            return phases
        }
    }
}
