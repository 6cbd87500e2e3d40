extension Pattern {
    /// `drop-column`, the deprecation pattern: behind an approval gate saying that no release may still read or write
    /// the column, it is renamed aside (to every query it is gone, but a revert brings it back with its data); behind
    /// a second gate it is dropped for good.
    public struct DropColumn: Sendable, Hashable {
        public var table: String
        public var column: String

        public init(table: String, column: String) {
            self.table = table
            self.column = column
        }

        var retired: String { PatternSQL.derivedName([column, "retired"]) }

        var summary: String {
            "drops \(table).\(column) once no release uses it: after approval renames it aside to \(retired) (a revert brings it back), after a second approval drops it"
        }

        func phases(_ site: PatternSite) -> [Phase] {
            let t = PatternSQL.ident(table)
            let c = PatternSQL.ident(column)
            let aside = PatternSQL.ident(retired)
            let retire = site.phase(
                "retire",
                up: [
                    PatternSQL.comment(
                        "\(site.pattern): renames \(table).\(column) aside to \(retired): no query can use it any more, and a revert renames it back with its data."
                    ),
                    PatternSQL.preflight(
                        site.pattern,
                        [
                            .table(table), .column(column, in: table), .noColumn(retired, in: table),
                            .omittable(column, in: table), .notInPrimaryKey(column, in: table),
                        ]),
                    "ALTER TABLE \(t) RENAME COLUMN \(c) TO \(aside)",
                ],
                down: ["ALTER TABLE \(t) RENAME COLUMN \(aside) TO \(c)"],
                gate:
                    "no release of the application may still read or write \(table).\(column) (check the code and the ORM models, then deploy); it disappears for every query",
                ignore: [
                    LintAcknowledgement(
                        rule: "rename-column",
                        reason:
                            "the deprecation pattern renames the column aside behind an approval gate that no release uses it, so a revert can bring it back"
                    )
                ])
            let drop = site.phase(
                "drop",
                up: [
                    PatternSQL.comment("\(site.pattern): drops \(table).\(retired) for good."),
                    "ALTER TABLE \(t) DROP COLUMN \(aside)",
                ],
                gate:
                    "\(table).\(column) has been retired on every tenant and nothing broke; dropping \(retired) deletes its data for good",
                reversible: false)
            return [retire, drop]
        }
    }
}
