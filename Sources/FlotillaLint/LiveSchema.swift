/// One tenant's catalog, as far as a change's statements touch it: each table's columns with their current types,
/// the validated `CHECK (col IS NOT NULL)` constraints, the indexes and the size. Read by FlotillaEngine's
/// `CatalogReader`, judged by ``LiveJudgement``.
public struct LiveSchema: Sendable, Hashable {
    /// The tenant whose catalog this is.
    public var tenant: String
    /// The tenant's shard.
    public var shard: String
    /// The tables the change touches that the tenant has.
    public var tables: [Table]

    public init(tenant: String, shard: String, tables: [Table]) {
        self.tenant = tenant
        self.shard = shard
        self.tables = tables
    }

    /// The table named `name` (the last part of a possibly qualified name, as PostgreSQL resolves it).
    public func table(named name: String) -> Table? {
        tables.first { $0.name == name }
    }

    /// All rows of the touched tables: how `--largest` ranks tenants.
    public var totalRows: Int { tables.reduce(0) { $0 + $1.rows } }

    /// One table of the tenant.
    public struct Table: Sendable, Hashable {
        /// How `rows` was found.
        public enum RowSource: String, Sendable, Hashable, Codable {
            /// `pg_class.reltuples`, kept by ANALYZE, autovacuum and CREATE INDEX.
            case statistics
            /// The table was never analyzed (`reltuples` is -1): its rows were counted, up to a limit (then `rows` is
            /// that limit and means "at least").
            case counted
        }

        public var name: String
        public var rows: Int
        public var rowSource: RowSource
        /// `pg_class.relpages`: the size in 8 kB pages when it was last analyzed.
        public var pages: Int
        public var columns: [Column]
        /// Columns proven never NULL by a validated `CHECK (col IS NOT NULL)`.
        public var notNullChecks: Set<String>
        public var indexes: [Index]

        public init(
            name: String, rows: Int, rowSource: RowSource = .statistics, pages: Int = 0, columns: [Column] = [],
            notNullChecks: Set<String> = [], indexes: [Index] = []
        ) {
            self.name = name
            self.rows = rows
            self.rowSource = rowSource
            self.pages = pages
            self.columns = columns
            self.notNullChecks = notNullChecks
            self.indexes = indexes
        }

        public func column(named name: String) -> Column? {
            columns.first { $0.name == name }
        }

        /// Whether a valid index has `columns` as its leading columns (in any order among them).
        public func hasIndex(leadingWith columns: [String]) -> Bool {
            indexes.contains { index in
                index.valid && index.columns.count >= columns.count
                    && Set(index.columns.prefix(columns.count).compactMap { $0 }) == Set(columns)
            }
        }

        /// Whether any index (valid or not) uses the column, as a key column or in an expression or predicate.
        public func isIndexed(_ column: String) -> Bool {
            indexes.contains { $0.columns.contains(column) || $0.mentions.contains(column) }
        }
    }

    /// One column: its name and `format_type` of its type, e.g. `character varying(20)`.
    public struct Column: Sendable, Hashable {
        public var name: String
        public var type: String
        public var notNull: Bool

        public init(name: String, type: String, notNull: Bool = false) {
            self.name = name
            self.type = type
            self.notNull = notNull
        }
    }

    /// One index: its key columns in order (nil for an expression), and every column it uses anywhere.
    public struct Index: Sendable, Hashable {
        public var name: String
        public var columns: [String?]
        /// Every column the index uses: key columns, expressions, INCLUDE and its predicate.
        public var mentions: Set<String>
        public var unique: Bool
        public var valid: Bool

        public init(
            name: String, columns: [String?], mentions: Set<String>? = nil, unique: Bool = false, valid: Bool = true
        ) {
            self.name = name
            self.columns = columns
            self.mentions = mentions ?? Set(columns.compactMap { $0 })
            self.unique = unique
            self.valid = valid
        }
    }
}
