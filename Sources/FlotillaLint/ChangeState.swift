/// What the statements linted so far (in this and earlier inputs of one change) have done, so later
/// statements can be judged in context: objects created in this change, declared column types,
/// constraints added `NOT VALID`, and the transaction block a statement runs in.
struct ChangeState {
    /// Tables (and materialized views) created by this change and not dropped since.
    private(set) var createdTables: [QualifiedName] = []
    private(set) var createdSchemas: Set<String> = []
    /// Indexes created on tables that were themselves created in this change.
    private(set) var createdIndexes: [QualifiedName] = []
    private var columnTypes: [ColumnKey: ColumnType] = [:]
    /// Constraints added `NOT VALID`, with the transaction they were added in.
    private var notValidConstraints: [ConstraintKey: Int] = [:]
    /// `CHECK (col IS NOT NULL)` constraints, by name, with their column.
    private var notNullChecks: [ConstraintKey: String] = [:]
    /// Columns proven not null by a validated `CHECK (col IS NOT NULL)`.
    private var provenNotNull: Set<ColumnKey> = []
    /// Columns made `NOT NULL` by `SET NOT NULL` in this change.
    private var setNotNullColumns: Set<ColumnKey> = []
    /// Columns added by `ADD COLUMN` in this change (to tables that existed before it).
    private var addedColumns: Set<ColumnKey> = []

    /// The transaction the current statement runs in, when it runs in one.
    private(set) var transaction: Int?
    private var inputTransaction: Int?
    private var transactionCounter = 0

    private struct ColumnKey: Hashable {
        var table: String
        var column: String
    }

    private struct ConstraintKey: Hashable {
        var table: String
        var name: String
    }

    // MARK: Inputs and transactions

    /// Starts a new input; when `inTransaction`, all its statements share one transaction block.
    mutating func beginInput(inTransaction: Bool) {
        inputTransaction = inTransaction ? newTransaction() : nil
        transaction = inputTransaction
    }

    mutating func beginTransaction() {
        if inputTransaction == nil, transaction == nil { transaction = newTransaction() }
    }

    mutating func endTransaction() {
        transaction = inputTransaction
    }

    var isInTransaction: Bool { transaction != nil }

    private mutating func newTransaction() -> Int {
        transactionCounter += 1
        return transactionCounter
    }

    // MARK: Objects created in this change

    /// Whether `table` was created in this change (directly, or inside a schema created in this change).
    func isCreated(_ table: QualifiedName) -> Bool {
        if let schema = table.schema, createdSchemas.contains(schema) { return true }
        return createdTables.contains { $0.matches(table) }
    }

    func isCreatedSchema(_ schema: String) -> Bool {
        createdSchemas.contains(schema)
    }

    func isCreatedIndex(_ index: QualifiedName) -> Bool {
        createdIndexes.contains { $0.matches(index) }
    }

    mutating func created(table: QualifiedName) {
        createdTables.append(table)
    }

    mutating func created(schema: String) {
        createdSchemas.insert(schema)
    }

    mutating func created(index: QualifiedName) {
        createdIndexes.append(index)
    }

    mutating func dropped(table: QualifiedName) {
        createdTables.removeAll { $0.matches(table) }
    }

    mutating func renamed(table: QualifiedName, to newName: String) {
        guard let i = createdTables.firstIndex(where: { $0.matches(table) }) else { return }
        var renamed = createdTables[i]
        renamed.parts[renamed.parts.count - 1] = newName
        createdTables[i] = renamed
    }

    // MARK: Columns

    func type(of column: String, in table: QualifiedName) -> ColumnType? {
        columnTypes[ColumnKey(table: table.name, column: column)]
    }

    mutating func declare(_ column: String, in table: QualifiedName, as type: ColumnType) {
        columnTypes[ColumnKey(table: table.name, column: column)] = type
    }

    mutating func renamed(column: String, in table: QualifiedName, to newName: String) {
        let key = ColumnKey(table: table.name, column: column)
        let newKey = ColumnKey(table: table.name, column: newName)
        if let type = columnTypes.removeValue(forKey: key) { columnTypes[newKey] = type }
        if addedColumns.remove(key) != nil { addedColumns.insert(newKey) }
    }

    mutating func added(column: String, to table: QualifiedName) {
        addedColumns.insert(ColumnKey(table: table.name, column: column))
    }

    /// Whether `column` was added to `table` earlier in this change.
    func isAdded(_ column: String, to table: QualifiedName) -> Bool {
        addedColumns.contains(ColumnKey(table: table.name, column: column))
    }

    mutating func droppedColumn(_ column: String, from table: QualifiedName) {
        let key = ColumnKey(table: table.name, column: column)
        addedColumns.remove(key)
        columnTypes[key] = nil
    }

    mutating func setNotNull(_ column: String, in table: QualifiedName) {
        setNotNullColumns.insert(ColumnKey(table: table.name, column: column))
    }

    // MARK: Constraints

    mutating func addedNotValid(constraint: String, on table: QualifiedName) {
        notValidConstraints[ConstraintKey(table: table.name, name: constraint)] = transaction ?? 0
    }

    /// Whether `constraint` was added `NOT VALID` in the transaction that is running now.
    func wasAddedNotValidInThisTransaction(_ constraint: String, on table: QualifiedName) -> Bool {
        guard let transaction else { return false }
        return notValidConstraints[ConstraintKey(table: table.name, name: constraint)] == transaction
    }

    mutating func addedNotNullCheck(constraint: String, column: String, on table: QualifiedName, validated: Bool) {
        notNullChecks[ConstraintKey(table: table.name, name: constraint)] = column
        if validated { provenNotNull.insert(ColumnKey(table: table.name, column: column)) }
    }

    mutating func validated(constraint: String, on table: QualifiedName) {
        let key = ConstraintKey(table: table.name, name: constraint)
        notValidConstraints[key] = nil
        if let column = notNullChecks[key] { provenNotNull.insert(ColumnKey(table: table.name, column: column)) }
    }

    mutating func dropped(constraint: String, on table: QualifiedName) {
        let key = ConstraintKey(table: table.name, name: constraint)
        notValidConstraints[key] = nil
        if let column = notNullChecks.removeValue(forKey: key) {
            provenNotNull.remove(ColumnKey(table: table.name, column: column))
        }
    }

    /// Whether `constraint` is a `CHECK (col IS NOT NULL)` whose column has since been SET NOT NULL.
    func isRedundantNotNullCheck(_ constraint: String, on table: QualifiedName) -> Bool {
        guard let column = notNullChecks[ConstraintKey(table: table.name, name: constraint)] else { return false }
        return setNotNullColumns.contains(ColumnKey(table: table.name, column: column))
    }

    /// Whether a validated `CHECK (column IS NOT NULL)` lets `SET NOT NULL` skip its scan.
    func isProvenNotNull(_ column: String, in table: QualifiedName) -> Bool {
        provenNotNull.contains(ColumnKey(table: table.name, column: column))
    }
}
