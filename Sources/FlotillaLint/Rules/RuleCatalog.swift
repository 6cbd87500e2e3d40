extension RuleDescription {
    // MARK: Columns

    static let addColumn = RuleDescription(
        id: "add-column", risk: .low, strategy: Strategy.direct, lock: Lock.accessExclusive,
        summary: "ADD COLUMN that is nullable or has a constant or stable default: a catalog-only change."
    )
    static let addColumnNotNullWithoutDefault = RuleDescription(
        id: "add-column-not-null-without-default", risk: .medium,
        strategy: "\(Strategy.multiPhase); \(Strategy.backfill)", lock: Lock.accessExclusive,
        summary: "ADD COLUMN … NOT NULL without a default fails on a table with rows and breaks old writers."
    )
    static let addColumnVolatileDefault = RuleDescription(
        id: "add-column-volatile-default", risk: .high, strategy: "\(Strategy.multiPhase); \(Strategy.backfill)",
        lock: Lock.accessExclusive,
        summary: "ADD COLUMN with a volatile default (random(), clock_timestamp(), nextval()…) rewrites the table."
    )
    static let addColumnUnknownDefault = RuleDescription(
        id: "add-column-unknown-default", risk: .medium, strategy: "\(Strategy.multiPhase); \(Strategy.backfill)",
        lock: Lock.accessExclusive,
        summary:
            "ADD COLUMN with a default calling a function of unknown volatility; a volatile one rewrites the table."
    )
    static let addColumnSerial = RuleDescription(
        id: "add-column-serial", risk: .high, strategy: "\(Strategy.multiPhase); \(Strategy.backfill)",
        lock: Lock.accessExclusive,
        summary: "ADD COLUMN of type serial/bigserial fills every row from a sequence: the table is rewritten."
    )
    static let addColumnIdentity = RuleDescription(
        id: "add-column-identity", risk: .high, strategy: "\(Strategy.multiPhase); \(Strategy.backfill)",
        lock: Lock.accessExclusive,
        summary: "ADD COLUMN … GENERATED AS IDENTITY fills every row from a sequence: the table is rewritten."
    )
    static let addColumnGeneratedStored = RuleDescription(
        id: "add-column-generated-stored", risk: .high, strategy: "\(Strategy.multiPhase); \(Strategy.backfill)",
        lock: Lock.accessExclusive,
        summary: "ADD COLUMN … GENERATED ALWAYS AS (…) STORED computes every row: the table is rewritten."
    )
    static let addColumnJSON = RuleDescription(
        id: "add-column-json", risk: .medium, strategy: Strategy.multiPhase, lock: Lock.accessExclusive,
        summary: "ADD COLUMN of type json: json has no equality operator, so running SELECT DISTINCT or UNION "
            + "queries over the table fail."
    )
    static let alterColumnType = RuleDescription(
        id: "alter-column-type", risk: .high, strategy: "\(Strategy.shadowColumn); \(Strategy.backfill)",
        lock: Lock.accessExclusive,
        summary: "ALTER COLUMN … TYPE that is not binary-coercible rewrites the table and its indexes."
    )
    static let alterColumnTypeCompatible = RuleDescription(
        id: "alter-column-type-compatible", risk: .low, strategy: Strategy.direct, lock: Lock.accessExclusive,
        summary: "ALTER COLUMN … TYPE to a binary-coercible type (varchar widening, varchar → text): no rewrite."
    )
    static let setNotNull = RuleDescription(
        id: "set-not-null", risk: .high, strategy: Strategy.validateThenEnforce, lock: Lock.accessExclusive,
        summary: "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE unless a validated check proves it."
    )
    static let dropNotNull = RuleDescription(
        id: "drop-not-null", risk: .medium, strategy: Strategy.multiPhase, lock: Lock.accessExclusive,
        summary: "DROP NOT NULL: readers that assume the column is never NULL break once NULLs are written."
    )
    static let dropDefault = RuleDescription(
        id: "drop-default", risk: .medium, strategy: Strategy.multiPhase, lock: Lock.accessExclusive,
        summary: "DROP DEFAULT: writers that omit the column start writing NULL or fail."
    )
    static let renameColumn = RuleDescription(
        id: "rename-column", risk: .high, strategy: Strategy.alias, lock: Lock.accessExclusive,
        summary: "RENAME COLUMN breaks every running reader and writer that uses the old name."
    )
    static let dropColumn = RuleDescription(
        id: "drop-column", risk: .high, strategy: Strategy.deprecation, lock: Lock.accessExclusive,
        summary: "DROP COLUMN breaks readers and writers that still use the column."
    )

    // MARK: Tables and schemas

    static let renameTable = RuleDescription(
        id: "rename-table", risk: .high, strategy: Strategy.alias, lock: Lock.accessExclusive,
        summary: "ALTER TABLE … RENAME TO / SET SCHEMA breaks every running query that uses the old name."
    )
    static let dropTable = RuleDescription(
        id: "drop-table", risk: .high, strategy: Strategy.deprecation, lock: Lock.accessExclusive,
        summary: "DROP TABLE removes data and breaks every query that still uses the table."
    )
    static let dropSchema = RuleDescription(
        id: "drop-schema", risk: .high, strategy: Strategy.deprecation, lock: Lock.accessExclusive,
        summary: "DROP SCHEMA removes every object in it."
    )
    static let truncate = RuleDescription(
        id: "truncate", risk: .high, strategy: Strategy.deprecation, lock: Lock.accessExclusive,
        summary: "TRUNCATE deletes every row at once under ACCESS EXCLUSIVE."
    )
    static let renameSchema = RuleDescription(
        id: "rename-schema", risk: .high, strategy: Strategy.noOnlinePath, lock: Lock.accessExclusive,
        summary: "ALTER SCHEMA … RENAME breaks every query naming it; in a schema-per-tenant fleet it renames a tenant."
    )
    static let dropDatabase = RuleDescription(
        id: "drop-database", risk: .high, strategy: Strategy.deprecation, lock: Lock.accessExclusive,
        summary: "DROP DATABASE removes a whole database; in a database-per-tenant fleet, a tenant."
    )
    static let detachPartition = RuleDescription(
        id: "detach-partition", risk: .medium, strategy: Strategy.concurrently, lock: Lock.accessExclusive,
        summary: "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the partitioned table."
    )
    static let tableRewrite = RuleDescription(
        id: "table-rewrite", risk: .high, strategy: Strategy.noOnlinePath, lock: Lock.accessExclusive,
        summary: "VACUUM FULL, CLUSTER, SET TABLESPACE, SET LOGGED/UNLOGGED, SET ACCESS METHOD rewrite the table."
    )

    // MARK: Constraints

    static let addCheckConstraint = RuleDescription(
        id: "add-check-constraint", risk: .high, strategy: Strategy.validateThenEnforce, lock: Lock.accessExclusive,
        summary: "ADD CHECK without NOT VALID checks every row while holding ACCESS EXCLUSIVE."
    )
    static let addForeignKey = RuleDescription(
        id: "add-foreign-key", risk: .high, strategy: Strategy.validateThenEnforce, lock: Lock.shareRowExclusive,
        summary: "ADD FOREIGN KEY without NOT VALID checks every row while blocking writes to both tables."
    )
    static let addConstraintNotValid = RuleDescription(
        id: "add-constraint-not-valid", risk: .low, strategy: Strategy.validateThenEnforce,
        lock: Lock.accessExclusive,
        summary: "ADD CHECK / FOREIGN KEY … NOT VALID: enforced for new rows, existing rows not scanned."
    )
    static let validateConstraint = RuleDescription(
        id: "validate-constraint", risk: .low, strategy: Strategy.validateThenEnforce,
        lock: Lock.shareUpdateExclusive,
        summary: "VALIDATE CONSTRAINT scans the table without blocking reads or writes."
    )
    static let validateConstraintInTransaction = RuleDescription(
        id: "validate-constraint-in-transaction", risk: .high, strategy: Strategy.validateThenEnforce,
        lock: Lock.accessExclusive,
        summary: "VALIDATE CONSTRAINT in the transaction that added the constraint keeps the ADD's lock while it scans."
    )
    static let addUniqueConstraint = RuleDescription(
        id: "add-unique-constraint", risk: .high, strategy: Strategy.onlineIndex, lock: Lock.accessExclusive,
        summary: "ADD UNIQUE builds its index while holding ACCESS EXCLUSIVE."
    )
    static let addPrimaryKey = RuleDescription(
        id: "add-primary-key", risk: .high, strategy: Strategy.onlineIndex, lock: Lock.accessExclusive,
        summary: "ADD PRIMARY KEY builds its index (and checks NOT NULL) while holding ACCESS EXCLUSIVE."
    )
    static let addConstraintUsingIndex = RuleDescription(
        id: "add-constraint-using-index", risk: .low, strategy: Strategy.onlineIndex, lock: Lock.accessExclusive,
        summary: "ADD UNIQUE USING INDEX adopts an index built concurrently: catalog-only."
    )
    static let addPrimaryKeyUsingIndex = RuleDescription(
        id: "add-primary-key-using-index", risk: .high, strategy: Strategy.validateThenEnforce,
        lock: Lock.accessExclusive,
        summary: "ADD PRIMARY KEY USING INDEX scans the table under ACCESS EXCLUSIVE unless its columns are NOT NULL."
    )
    static let addExclusionConstraint = RuleDescription(
        id: "add-exclusion-constraint", risk: .high, strategy: Strategy.noOnlinePath, lock: Lock.accessExclusive,
        summary: "ADD EXCLUDE builds its index under ACCESS EXCLUSIVE and cannot be built concurrently."
    )
    static let dropConstraint = RuleDescription(
        id: "drop-constraint", risk: .medium, strategy: Strategy.multiPhase, lock: Lock.accessExclusive,
        summary: "DROP CONSTRAINT removes a guarantee (and a UNIQUE/PRIMARY KEY's index) for every tenant at once."
    )

    // MARK: Types and domains

    static let alterDomainAddConstraint = RuleDescription(
        id: "alter-domain-add-constraint", risk: .high, strategy: Strategy.validateThenEnforce, lock: Lock.share,
        summary: "ALTER DOMAIN … ADD CONSTRAINT / VALIDATE CONSTRAINT checks every column of the domain in every table."
    )
    static let createDomainWithConstraint = RuleDescription(
        id: "create-domain-with-constraint", risk: .medium, strategy: Strategy.validateThenEnforce, lock: Lock.none,
        summary: "CREATE DOMAIN with a CHECK or NOT NULL: changing that constraint later scans every table using it."
    )
    static let renameEnumValue = RuleDescription(
        id: "rename-enum-value", risk: .high, strategy: Strategy.multiPhase, lock: Lock.accessExclusive,
        summary: "ALTER TYPE … RENAME VALUE breaks running code that reads or writes the old label."
    )

    // MARK: Indexes

    static let createIndex = RuleDescription(
        id: "create-index", risk: .medium, strategy: Strategy.onlineIndex, lock: Lock.share,
        summary: "CREATE INDEX without CONCURRENTLY blocks writes for the whole build."
    )
    static let createIndexConcurrently = RuleDescription(
        id: "create-index-concurrently", risk: .low, strategy: Strategy.onlineIndex, lock: Lock.shareUpdateExclusive,
        summary: "CREATE INDEX CONCURRENTLY builds without blocking reads or writes."
    )
    static let dropIndex = RuleDescription(
        id: "drop-index", risk: .medium, strategy: Strategy.onlineIndex, lock: Lock.accessExclusive,
        summary: "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table."
    )
    static let dropIndexConcurrently = RuleDescription(
        id: "drop-index-concurrently", risk: .low, strategy: Strategy.onlineIndex, lock: Lock.shareUpdateExclusive,
        summary: "DROP INDEX CONCURRENTLY waits for running queries without blocking new ones."
    )
    static let reindex = RuleDescription(
        id: "reindex", risk: .medium, strategy: Strategy.onlineIndex, lock: Lock.share,
        summary: "REINDEX without CONCURRENTLY blocks writes, and reads that use the index, for the whole rebuild."
    )
    static let reindexConcurrently = RuleDescription(
        id: "reindex-concurrently", risk: .low, strategy: Strategy.onlineIndex, lock: Lock.shareUpdateExclusive,
        summary: "REINDEX CONCURRENTLY rebuilds without blocking reads or writes."
    )
    static let concurrentlyInTransaction = RuleDescription(
        id: "concurrently-in-transaction", risk: .error, strategy: Strategy.onlineIndex,
        lock: Lock.shareUpdateExclusive,
        summary: "… CONCURRENTLY cannot run inside a transaction block: PostgreSQL rejects it."
    )
    static let noTransactionBlock = RuleDescription(
        id: "no-transaction-block", risk: .error, strategy: Strategy.direct, lock: Lock.none,
        summary: "VACUUM, CREATE/DROP DATABASE, ALTER SYSTEM… cannot run inside a transaction block."
    )

    // MARK: Transactions

    static let transactionControlInPhase = RuleDescription(
        id: "transaction-control-in-phase", risk: .high, strategy: Strategy.direct, lock: Lock.none,
        summary: "BEGIN, COMMIT or ROLLBACK in a phase Flotilla runs as one transaction with its verify and ledger row."
    )
    static let transactionShape = RuleDescription(
        id: "transaction-shape", risk: .medium, strategy: Strategy.direct, lock: Lock.none,
        summary: "BEGIN inside an open transaction, COMMIT with none open, or a BEGIN never committed."
    )

    // MARK: Data

    static let unbatchedUpdate = RuleDescription(
        id: "unbatched-update", risk: .high, strategy: Strategy.backfill, lock: Lock.rowExclusive,
        summary: "UPDATE or DELETE without WHERE changes every row in one transaction: use a backfill phase."
    )

    // MARK: Everything else

    static let statement = RuleDescription(
        id: "statement", risk: .low, strategy: Strategy.direct, lock: Lock.none,
        summary: "A statement no rule flags: safe to deploy directly."
    )
    static let ignoreWithoutReason = RuleDescription(
        id: "ignore-without-reason", risk: .high, strategy: Strategy.direct, lock: Lock.none,
        summary: "A flotilla:ignore comment without a reason acknowledges nothing and blocks."
    )
    static let ignoreUnknownRule = RuleDescription(
        id: "ignore-unknown-rule", risk: .low, strategy: Strategy.direct, lock: Lock.none,
        summary: "A flotilla:ignore comment names a rule that does not exist."
    )

    /// Every rule, in documentation order.
    static let catalog: [RuleDescription] = [
        .addColumn, .addColumnNotNullWithoutDefault, .addColumnVolatileDefault, .addColumnUnknownDefault,
        .addColumnSerial, .addColumnIdentity, .addColumnGeneratedStored, .addColumnJSON, .alterColumnType,
        .alterColumnTypeCompatible, .setNotNull, .dropNotNull, .dropDefault, .renameColumn, .dropColumn,
        .renameTable, .dropTable, .dropSchema, .renameSchema, .dropDatabase, .detachPartition, .truncate,
        .tableRewrite,
        .addCheckConstraint, .addForeignKey, .addConstraintNotValid, .validateConstraint,
        .validateConstraintInTransaction, .addUniqueConstraint, .addPrimaryKey, .addConstraintUsingIndex,
        .addPrimaryKeyUsingIndex, .addExclusionConstraint, .dropConstraint,
        .alterDomainAddConstraint, .createDomainWithConstraint, .renameEnumValue,
        .createIndex, .createIndexConcurrently, .dropIndex, .dropIndexConcurrently, .reindex,
        .reindexConcurrently, .concurrentlyInTransaction, .noTransactionBlock, .transactionShape,
        .transactionControlInPhase,
        .unbatchedUpdate, .statement, .ignoreWithoutReason, .ignoreUnknownRule,
    ]
}
