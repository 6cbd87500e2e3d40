extension Pattern {
    /// `rename-column`, the alias pattern: the new column is added beside the old one with its type, a trigger keeps
    /// the two equal in both directions (whichever name a writer uses), and a backfill copies the rows that exist.
    /// After an approval gate (every release now uses the new name), the contract drops the trigger and the old
    /// column, whose default moves to the new one. NOT NULL, indexes and constraints of the old column are not
    /// carried over.
    public struct RenameColumn: Sendable, Hashable {
        public var table: String
        public var column: String
        public var to: String
        public var batches: Batches

        public init(table: String, column: String, to: String, batches: Batches = Batches()) {
            self.table = table
            self.column = column
            self.to = to
            self.batches = batches
        }

        var summary: String {
            "renames \(table).\(column) to \(to) without breaking running code: adds \(to) with the same type, keeps both in sync with a trigger, copies the rows that exist in batches, and after approval drops the trigger and \(column)"
        }

        func phases(_ site: PatternSite) -> [Phase] {
            let t = PatternSQL.ident(table)
            let old = PatternSQL.ident(column)
            let new = PatternSQL.ident(to)
            let trigger = PatternSQL.ident(PatternSQL.syncTrigger(table: table, column: column))
            let tag = PatternSQL.tag
            let addColumn = """
                DO \(tag)
                BEGIN
                    EXECUTE format('ALTER TABLE %s ADD COLUMN %s %s', \(PatternSQL.literal(t)), \(PatternSQL.literal(new)),
                        (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = \(PatternSQL.regclass(table)) AND attname = \(PatternSQL.literal(column))));
                END
                \(tag)
                """
            let function = """
                CREATE OR REPLACE FUNCTION \(trigger)() RETURNS trigger LANGUAGE plpgsql AS \(tag)
                BEGIN
                    IF TG_OP = 'INSERT' THEN
                        IF NEW.\(new) IS NULL THEN
                            NEW.\(new) := NEW.\(old);
                        ELSE
                            NEW.\(old) := NEW.\(new);
                        END IF;
                    ELSIF NEW.\(new) IS DISTINCT FROM OLD.\(new) THEN
                        NEW.\(old) := NEW.\(new);
                    ELSE
                        NEW.\(new) := NEW.\(old);
                    END IF;
                    RETURN NEW;
                END
                \(tag)
                """
            let dropTrigger = [
                "DROP TRIGGER IF EXISTS \(trigger) ON \(t)", "DROP FUNCTION IF EXISTS \(trigger)()",
            ]
            let expand = site.phase(
                "expand",
                up: [
                    PatternSQL.comment(
                        "\(site.pattern): adds \(table).\(to) with the type of \(column); a trigger keeps the two equal in both directions, whichever name a writer uses."
                    ),
                    PatternSQL.preflight(
                        site.pattern,
                        [
                            .table(table), .column(column, in: table), .noColumn(to, in: table),
                            .integerKey(batches.key, in: table),
                        ]),
                    addColumn, function,
                    "CREATE TRIGGER \(trigger) BEFORE INSERT OR UPDATE ON \(t)\n    FOR EACH ROW EXECUTE FUNCTION \(trigger)()",
                ],
                down: dropTrigger + ["ALTER TABLE \(t) DROP COLUMN IF EXISTS \(new)"])
            let backfill = site.phase(
                "backfill",
                verify: "SELECT NOT EXISTS (SELECT FROM \(t) WHERE \(new) IS DISTINCT FROM \(old))",
                backfill: batches.backfill(
                    table: table, set: "\(new) = \(old)", where: "\(new) IS DISTINCT FROM \(old)"))
            let contract = site.phase(
                "contract",
                up: [
                    PatternSQL.comment(
                        "\(site.pattern): drops the sync trigger and \(table).\(column); \(to) keeps its default."),
                    PatternSQL.copyDefault(table: table, from: column, to: to),
                ] + dropTrigger + ["ALTER TABLE \(t) DROP COLUMN \(old)"],
                gate:
                    "every release of the application now reads and writes \(table).\(to); no release may still use \(table).\(column), which is dropped for good",
                reversible: false)
            return [expand, backfill, contract]
        }
    }
}
