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
    /// The `BEGIN` that opened the running transaction; nil when none is open or it is the input's own.
    private(set) var openingBegin: SQLToken?
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

    /// The transaction Flotilla runs the current input (a phase) in, with its verify and ledger row, while open.
    private(set) var phaseTransaction: Int?

    /// Starts a new input; when `inTransaction`, its statements run in one transaction block until a `COMMIT`.
    /// `isPhaseTransaction`: that block is the one Flotilla runs the phase in.
    mutating func beginInput(inTransaction: Bool, isPhaseTransaction: Bool = false) {
        transaction = inTransaction ? newTransaction() : nil
        phaseTransaction = isPhaseTransaction ? transaction : nil
        openingBegin = nil
    }

    /// Whether the statement runs in the transaction Flotilla opened for the phase.
    var isInPhaseTransaction: Bool { transaction != nil && transaction == phaseTransaction }

    /// `BEGIN` / `START TRANSACTION` at `token`. Inside the input's own transaction it changes nothing.
    mutating func beginTransaction(at token: SQLToken) {
        guard transaction == nil else { return }
        transaction = newTransaction()
        openingBegin = token
    }

    /// `COMMIT`, `ROLLBACK`…: ends the open transaction, the input's own one included.
    mutating func endTransaction() {
        transaction = nil
        openingBegin = nil
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

    /// Tables renamed in this change: the old name, the new one and the transaction of the rename.
    private var renames: [Rename] = []
    /// Renames answered in their own transaction by a view under the old name over the new one.
    private(set) var aliasedRenames: Set<Rename> = []

    struct Rename: Hashable {
        var table: String
        var newName: String
        var transaction: Int
    }

    /// Records `ALTER TABLE table RENAME TO newName`; returns the rename when it runs in a transaction.
    mutating func renamedInTransaction(table: QualifiedName, to newName: String) -> Rename? {
        guard let transaction else { return nil }
        let rename = Rename(table: table.name, newName: newName, transaction: transaction)
        renames.append(rename)
        return rename
    }

    /// `CREATE VIEW view AS … FROM source …`: completes the alias pattern of a rename of `view` to a table the
    /// view reads, in the same transaction.
    mutating func createdView(_ view: QualifiedName, reading names: Set<String>) {
        guard let transaction else { return }
        for rename in renames
        where rename.transaction == transaction && rename.table == view.name && names.contains(rename.newName) {
            aliasedRenames.insert(rename)
        }
    }

    /// Indexes on plain columns created in this change, by name: their table and columns.
    private var indexColumns: [String: (table: String, columns: [String])] = [:]

    mutating func indexed(_ index: String, on table: QualifiedName, columns: [String]) {
        indexColumns[index] = (table.name, columns)
    }

    /// Whether every column of `index` (created in this change) is known to hold no NULL: SET NOT NULL in this
    /// change or proven by a validated `CHECK (col IS NOT NULL)`.
    func hasNotNullColumns(index: String, on table: QualifiedName) -> Bool {
        guard let entry = indexColumns[index], entry.table == table.name else { return false }
        return entry.columns.allSatisfy { column in
            let key = ColumnKey(table: table.name, column: column)
            return setNotNullColumns.contains(key) || provenNotNull.contains(key)
        }
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
