extension Pattern {
    /// `add-index`, online index creation: `CREATE INDEX CONCURRENTLY` outside a transaction, which blocks neither
    /// reads nor writes. An INVALID index left by a failed try is dropped before the next try (the engine does that
    /// for every `CREATE INDEX CONCURRENTLY`); down drops the index concurrently.
    public struct AddIndex: Sendable, Hashable {
        public var table: String
        /// Column names or expressions, in order.
        public var columns: [String]
        public var name: String
        public var unique: Bool
        /// The index method (btree, gin, gist, brin, hash…); nil for the default.
        public var method: String?
        /// A partial index's predicate.
        public var whereClause: String?

        public init(
            table: String, columns: [String], name: String? = nil, unique: Bool = false, method: String? = nil,
            whereClause: String? = nil
        ) {
            self.table = table
            self.columns = columns
            self.name = name ?? Self.defaultName(table: table, columns: columns, unique: unique)
            self.unique = unique
            self.method = method
            self.whereClause = whereClause
        }

        /// `table_col1_col2_idx` (`_key` when unique), as PostgreSQL names indexes; expressions contribute their
        /// words.
        static func defaultName(table: String, columns: [String], unique: Bool) -> String {
            let words = columns.map { column in
                String(column.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
                    .split(separator: "_").joined(separator: "_")
            }
            return PatternSQL.derivedName([table] + words.filter { !$0.isEmpty } + [unique ? "key" : "idx"])
        }

        /// The entries that are plain column names (the preflight checks they exist).
        var columnNames: [String] { columns.filter { identifierProblem($0, reserved: false) == nil } }

        var summary: String {
            "builds the \(unique ? "unique " : "")index \(name) on \(table) (\(columns.joined(separator: ", "))) with CREATE INDEX CONCURRENTLY, which blocks neither reads nor writes"
        }

        func phases(_ site: PatternSite) -> [Phase] {
            let t = PatternSQL.ident(table)
            let i = PatternSQL.ident(name)
            let list = columns.map { identifierProblem($0, reserved: false) == nil ? PatternSQL.ident($0) : $0 }
            var create = "CREATE \(unique ? "UNIQUE " : "")INDEX CONCURRENTLY \(i) ON \(t)"
            if let method { create += " USING \(method)" }
            create += " (\(list.joined(separator: ", ")))"
            if let whereClause { create += " WHERE \(whereClause)" }
            let index = site.phase(
                "index",
                up: [
                    PatternSQL.comment(
                        "\(site.pattern): \(summary); an INVALID \(name) left by a failed try is dropped and built again."
                    ),
                    PatternSQL.preflight(
                        site.pattern, [.table(table)] + columnNames.map { .column($0, in: table) }),
                    create,
                ],
                down: ["DROP INDEX CONCURRENTLY IF EXISTS \(i)"], transaction: .none)
            return [index]
        }
    }
}
