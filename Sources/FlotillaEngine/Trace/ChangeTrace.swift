import FlotillaLint
import FlotillaModel

/// What each statement of a change did when it ran on a scratch copy of one tenant's schema.
public struct ChangeTrace: Sendable, Hashable {
    /// The tenant whose schema was copied.
    public var tenant: String
    /// One entry per statement of every phase's `up`, in order.
    public var statements: [StatementTrace]
    /// Things worth knowing about the copy itself (sample rows that could not be copied, phases not traced).
    public var notes: [String]

    public init(tenant: String, statements: [StatementTrace], notes: [String] = []) {
        self.tenant = tenant
        self.statements = statements
        self.notes = notes
    }

    /// The trace of the statement that starts at `line`:`column` of `phase`, if there is one.
    public func statement(phase: String, line: Int, column: Int) -> StatementTrace? {
        statements.first { $0.phase == phase && $0.line == line && $0.column == column }
    }
}

/// What one statement did on the copy.
public struct StatementTrace: Sendable, Hashable {
    /// How far the statement could be traced.
    public enum Outcome: Sendable, Hashable {
        /// Ran inside `BEGIN … ROLLBACK`: its locks and rewrites were observed.
        case traced
        /// Cannot run inside a transaction block (`CREATE INDEX CONCURRENTLY`…): rewrites were observed, locks not.
        case outsideTransaction
        /// Transaction control (`BEGIN`, `COMMIT`, `SAVEPOINT`…): not run.
        case skipped(String)
        /// PostgreSQL rejected it on the copy.
        case failed(String)
    }

    public var phase: String
    /// 1-based position of the statement's first token in the change file.
    public var line: Int
    public var column: Int
    /// The statement, as run.
    public var sql: String
    public var outcome: Outcome
    /// Locks held on tables, indexes and sequences, strongest first.
    public var locks: [Finding.Traced.Lock]
    /// The tables whose `relfilenode` changed.
    public var rewrites: [String]
    /// Of the rewritten tables, those that held rows on the copy.
    public var rewritesWithRows: [String]
    /// The tables locked, with the strongest mode held on each, strongest first.
    public var tableLocks: [Finding.Traced.Lock]

    public init(
        phase: String, line: Int, column: Int, sql: String, outcome: Outcome, locks: [Finding.Traced.Lock] = [],
        rewrites: [String] = [], rewritesWithRows: [String] = [], tableLocks: [Finding.Traced.Lock] = []
    ) {
        self.phase = phase
        self.line = line
        self.column = column
        self.sql = sql
        self.outcome = outcome
        self.locks = locks
        self.rewrites = rewrites
        self.rewritesWithRows = rewritesWithRows
        self.tableLocks = tableLocks
    }
}

// MARK: - Lock modes

/// PostgreSQL's table lock modes, weakest first, as `pg_locks.mode` names them.
enum LockMode {
    static let all = [
        "AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
        "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
    ]

    /// The position of a mode in `all` (unknown modes rank lowest).
    static func strength(_ mode: String) -> Int { all.firstIndex(of: mode) ?? -1 }

    /// `AccessExclusiveLock` → `ACCESS EXCLUSIVE`, the spelling of the PostgreSQL docs and of `Finding.lock`.
    static func docsName(_ mode: String) -> String {
        var words: [String] = []
        var current = ""
        for character in mode.hasSuffix("Lock") ? String(mode.dropLast(4)) : mode {
            if character.isUppercase, !current.isEmpty {
                words.append(current)
                current = ""
            }
            current.append(character)
        }
        if !current.isEmpty { words.append(current) }
        return words.joined(separator: " ").uppercased()
    }
}

// MARK: - Findings

extension ChangeTrace {
    /// The findings of `change`, each with the trace of its statement: the observed locks replace the classifier's
    /// guess, a rewrite is noted, and a rewrite of a table that holds rows raises the risk to high. The trace never
    /// lowers a risk (other tenants may hold more data than the copy). Findings of other files are kept as they are.
    public func apply(to findings: [Finding], of change: Change) -> [Finding] {
        // Each phase's statements, by position: a finding belongs to the last statement starting at or before it.
        var starts: [String: [(line: Int, column: Int, trace: StatementTrace)]] = [:]
        for phase in change.phases {
            starts[phase.name] = statements.filter { $0.phase == phase.name }.map { ($0.line, $0.column, $0) }
        }
        return findings.map { finding in
            // Findings about `flotilla:ignore` comments are about the comment, not the statement.
            guard finding.file == change.file, !finding.rule.hasPrefix("ignore-"), let phase = finding.phase,
                let candidates = starts[phase],
                let owner = candidates.last(where: { ($0.line, $0.column) <= (finding.line, finding.column) })
            else { return finding }
            return Self.merge(owner.trace, into: finding, tenant: tenant)
        }
    }

    static func merge(_ trace: StatementTrace, into finding: Finding, tenant: String) -> Finding {
        var finding = finding
        var facts: [String] = []
        var note: String?
        switch trace.outcome {
        case .skipped(let reason):
            note = reason
            facts.append("not run (\(reason))")
        case .failed(let message):
            note = "failed on the copy: \(message)"
            facts.append("failed on the copy: \(message)")
        case .outsideTransaction:
            note = "runs outside a transaction block, so its locks were not observed"
            facts.append("locks not observed (runs outside a transaction block)")
        case .traced:
            finding.lock = lockSummary(trace.tableLocks)
            facts.append(
                trace.tableLocks.isEmpty
                    ? "no table locked"
                    : trace.tableLocks.map { "\($0.mode) on \($0.relation)" }.joined(separator: ", "))
        }
        switch trace.outcome {
        case .traced, .outsideTransaction:
            facts.append(trace.rewrites.isEmpty ? "no rewrite" : "\(trace.rewrites.joined(separator: ", ")) rewritten")
            if !trace.rewritesWithRows.isEmpty, finding.risk < .high {
                facts.append("risk raised from \(finding.risk.rawValue) to high")
                finding.risk = .high
            }
        case .skipped, .failed:
            break
        }
        finding.message += " [traced on tenant \(tenant): \(facts.joined(separator: "; "))]"
        finding.traced = Finding.Traced(tenant: tenant, locks: trace.locks, rewrites: trace.rewrites, note: note)
        return finding
    }

    /// `ACCESS EXCLUSIVE` for one table, `ACCESS EXCLUSIVE on a, SHARE ROW EXCLUSIVE on b` for several, `none`.
    static func lockSummary(_ tableLocks: [Finding.Traced.Lock]) -> String {
        switch tableLocks.count {
        case 0: "none"
        case 1: LockMode.docsName(tableLocks[0].mode)
        default: tableLocks.map { "\(LockMode.docsName($0.mode)) on \($0.relation)" }.joined(separator: ", ")
        }
    }
}
