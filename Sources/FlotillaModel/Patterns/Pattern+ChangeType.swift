extension Pattern {
    /// `change-type`, the shadow column pattern: a shadow column of the new type, kept equal to `using` of the old
    /// column by a trigger on every write and filled in batches; the switch renames both columns in one short
    /// transaction under `lock_timeout` (the trigger then keeps the old column equal to the new one, so a revert loses
    /// nothing); after an approval gate the contract drops the old column and the trigger. The shadow column gets the
    /// old column's default (or `default:`); NOT NULL, indexes and constraints are not carried over.
    public struct ChangeType: Sendable, Hashable {
        public var table: String
        public var column: String
        public var type: String
        /// SQL expression of the new value; it may use the row's columns (default `column::type`).
        public var using: String
        /// The shadow column's name (default `column_new`).
        public var shadow: String
        /// The old column's name after the switch (default `column_old`).
        public var old: String
        /// SQL expression the shadow column defaults to; nil copies the old column's default.
        public var defaultValue: String?
        public var batches: Batches

        public init(
            table: String, column: String, type: String, using: String? = nil, shadow: String? = nil,
            old: String? = nil, defaultValue: String? = nil, batches: Batches = Batches()
        ) {
            self.table = table
            self.column = column
            self.type = type
            self.using = using ?? "\(PatternSQL.ident(column))::\(type)"
            self.shadow = shadow ?? PatternSQL.derivedName([column, "new"])
            self.old = old ?? PatternSQL.derivedName([column, "old"])
            self.defaultValue = defaultValue
            self.batches = batches
        }

        var summary: String {
            "changes \(table).\(column) to \(type) through the shadow column \(shadow) = \(using): kept in sync by a trigger, filled in batches, switched in by renaming both columns in one short transaction, and after approval \(old) is dropped"
        }

        func phases(_ site: PatternSite) -> [Phase] {
            let t = PatternSQL.ident(table)
            let c = PatternSQL.ident(column)
            let s = PatternSQL.ident(shadow)
            let o = PatternSQL.ident(old)
            let trigger = PatternSQL.ident(PatternSQL.syncTrigger(table: table, column: column))
            let tag = PatternSQL.tag
            func function(_ assignment: String) -> String {
                """
                CREATE OR REPLACE FUNCTION \(trigger)() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS \(tag)
                BEGIN
                    \(assignment);
                    RETURN NEW;
                END
                \(tag)
                """
            }
            // `using` sees the row being written under its column names.
            let forward = function("NEW.\(s) := (SELECT \(using) FROM (SELECT NEW.*) AS flotilla_row)")
            let backward = function("NEW.\(o) := NEW.\(c)")
            let dropTrigger = ["DROP TRIGGER IF EXISTS \(trigger) ON \(t)", "DROP FUNCTION IF EXISTS \(trigger)()"]
            let setDefault =
                defaultValue.map { "ALTER TABLE \(t) ALTER COLUMN \(s) SET DEFAULT \($0)" }
                ?? PatternSQL.copyDefault(table: table, from: column, to: shadow)
            let expand = site.phase(
                "expand",
                up: [
                    PatternSQL.comment(
                        "\(site.pattern): adds the shadow column \(table).\(shadow) \(type); a trigger sets it to \(using) on every insert and update."
                    ),
                    PatternSQL.preflight(
                        site.pattern,
                        [
                            .table(table), .column(column, in: table), .noColumn(shadow, in: table),
                            .noColumn(old, in: table), .integerKey(batches.key, in: table),
                        ]),
                    "ALTER TABLE \(t) ADD COLUMN \(s) \(type)", setDefault, forward,
                    "CREATE TRIGGER \(trigger) BEFORE INSERT OR UPDATE ON \(t)\n    FOR EACH ROW EXECUTE FUNCTION \(trigger)()",
                ],
                down: dropTrigger + ["ALTER TABLE \(t) DROP COLUMN IF EXISTS \(s)"])
            let differs = "\(s) IS DISTINCT FROM (\(using))"
            let backfill = site.phase(
                "backfill",
                verify: "SELECT NOT EXISTS (SELECT FROM \(t) WHERE \(differs))",
                backfill: batches.backfill(table: table, set: "\(s) = \(using)", where: differs))
            let switchOver = site.phase(
                "switch",
                up: [
                    PatternSQL.comment(
                        "\(site.pattern): in one short transaction under lock_timeout, \(column) becomes \(old) and \(shadow) becomes \(column); the trigger now keeps \(old) equal to \(column), so a revert loses nothing."
                    ),
                    "ALTER TABLE \(t) RENAME COLUMN \(c) TO \(o)", "ALTER TABLE \(t) RENAME COLUMN \(s) TO \(c)",
                    backward,
                ],
                down: [
                    "ALTER TABLE \(t) RENAME COLUMN \(c) TO \(s)", "ALTER TABLE \(t) RENAME COLUMN \(o) TO \(c)",
                    forward,
                ],
                ignore: [
                    LintAcknowledgement(
                        rule: "rename-column",
                        reason:
                            "the shadow column switch: both renames run in one short transaction under lock_timeout, so every query sees \(column), now of type \(type)"
                    )
                ])
            let contract = site.phase(
                "contract",
                up: [
                    PatternSQL.comment("\(site.pattern): drops the sync trigger and \(table).\(old).")
                ] + dropTrigger + ["ALTER TABLE \(t) DROP COLUMN \(o)"],
                gate:
                    "every release of the application works with \(table).\(column) as \(type); \(old), the old values, is dropped for good",
                reversible: false)
            return [expand, backfill, switchOver, contract]
        }
    }
}
