/// Judges findings again on one tenant's live catalog: lowers a risk the live schema proves safe, raises one by the
/// size of the table a rewrite or a scan touches, and adds `fk-without-index` for a foreign key whose referencing
/// columns no index leads with. Every finding whose table the tenant has carries what it was judged on.
///
/// Rows are `pg_class.reltuples`; a table never analyzed (`reltuples` -1) has its rows counted by the reader, up to
/// `rowsHigh` (see ``LiveSchema/Table/RowSource``).
public enum LiveJudgement {
    /// The existing tables (last name part) that the inputs' statements touch: what the catalog reader reads.
    public static func tables(in inputs: [LintInput]) -> [String] {
        LiveTargets(inputs).tables
    }

    /// The rules whose statements rewrite a table.
    static let rewriteRules: Set<String> = [
        RuleDescription.addColumnVolatileDefault.id, RuleDescription.addColumnUnknownDefault.id,
        RuleDescription.addColumnSerial.id, RuleDescription.addColumnIdentity.id,
        RuleDescription.addColumnGeneratedStored.id, RuleDescription.alterColumnType.id,
        RuleDescription.tableRewrite.id,
    ]

    /// The rules whose statements read every row of a table while holding a lock that blocks writers.
    static let scanRules: Set<String> = [
        RuleDescription.setNotNull.id, RuleDescription.addCheckConstraint.id, RuleDescription.addForeignKey.id,
        RuleDescription.addUniqueConstraint.id, RuleDescription.addPrimaryKey.id,
        RuleDescription.addPrimaryKeyUsingIndex.id, RuleDescription.addExclusionConstraint.id,
        RuleDescription.createIndex.id, RuleDescription.reindex.id, RuleDescription.validateConstraintInTransaction.id,
        RuleDescription.unbatchedUpdate.id,
    ]

    /// Whether the finding's statement rewrites or scans its table: by its rule, or by a strategy that fills or
    /// copies rows. A finding its context made harmless (low, direct deployment) does not.
    static func touchesRows(_ finding: Finding) -> Bool {
        guard finding.risk < .error, finding.risk > .low || finding.strategy != Strategy.direct else { return false }
        return rewriteRules.contains(finding.rule) || scanRules.contains(finding.rule)
            || finding.strategy.contains(Strategy.backfill) || finding.strategy.contains(Strategy.shadowColumn)
    }

    /// `findings` (as `Linter` or `ChangeLint` made them from `inputs`) judged on `schema`.
    public static func judge(
        _ findings: [Finding], inputs: [LintInput], schema: LiveSchema, thresholds: RiskThresholds = RiskThresholds()
    ) -> [Finding] {
        let targets = LiveTargets(inputs)
        var entries: [(finding: Finding, statement: Int?)] = []
        // The static linter does not know the live rule: its "unknown rule" finding for it goes.
        let liveRules = RuleDescription.liveCatalog.map(\.id)
        let known = findings.filter { finding in
            finding.rule != RuleDescription.ignoreUnknownRule.id
                || !liveRules.contains { finding.message.contains("unknown rule \($0):") }
        }
        for finding in known {
            let position = LiveTargets.Position(line: finding.line, column: finding.column)
            let index = targets.statements.indices.first { index in
                let statement = targets.statements[index]
                return statement.file == finding.file && statement.phase == finding.phase
                    && statement.contains(position)
            }
            guard let index else {
                entries.append((finding, nil))
                continue
            }
            entries.append(
                (judge(finding, in: targets.statements[index], schema: schema, thresholds: thresholds), index))
        }
        // A statement's foreign keys come right after its own findings.
        var judged: [Finding] = []
        var placed: Set<Int> = []
        for (position, entry) in entries.enumerated() {
            judged.append(entry.finding)
            let next = position + 1 < entries.count ? entries[position + 1].statement : nil
            if let index = entry.statement, next != index, placed.insert(index).inserted {
                judged += foreignKeyFindings(targets.statements[index], schema: schema)
            }
        }
        for index in targets.statements.indices where !placed.contains(index) {
            judged += foreignKeyFindings(targets.statements[index], schema: schema)
        }
        return judged
    }

    private static func judge(
        _ finding: Finding, in statement: LiveTargets.Statement, schema: LiveSchema, thresholds: RiskThresholds
    ) -> Finding {
        guard !statement.createdInChange, let name = statement.table?.name, let table = schema.table(named: name)
        else { return finding }
        var finding = finding
        let staticRisk = finding.risk
        let position = LiveTargets.Position(line: finding.line, column: finding.column)
        let on = "on tenant \(schema.tenant)"
        var reason: String?
        var provenSafe = false
        // The rule's advice no longer applies when the live schema decides the statement's kind.
        var replacesAdvice = false

        func alterType(_ kind: LiveTargets.Kind) -> Bool {
            if case .alterType = kind { return true } else { return false }
        }
        func setNotNull(_ kind: LiveTargets.Kind) -> Bool {
            if case .setNotNull = kind { return true } else { return false }
        }

        if finding.rule == RuleDescription.alterColumnType.id
            || finding.rule == RuleDescription.alterColumnTypeCompatible.id,
            let action = statement.action(at: position, where: alterType),
            case .alterType(let column, let newType?, let using, false) = action.kind,
            let current = table.column(named: column), let currentType = ColumnType.parse(sql: current.type)
        {
            let citext = isCitextRelabel(from: currentType, to: newType) && !table.isIndexed(column)
            let compatible = !using && (ColumnType.isBinaryCoercible(from: currentType, to: newType) || citext)
            if compatible, finding.rule == RuleDescription.alterColumnType.id, finding.risk < .error {
                let rule = RuleDescription.alterColumnTypeCompatible
                finding.rule = rule.id
                finding.risk = rule.risk
                finding.strategy = rule.strategy
                reason =
                    "\(column) is \(current.type) \(on), and \(newType) is binary-coercible from it"
                    + (citext ? " (\(column) is in no index, so no index is rebuilt)" : "")
                    + ", so PostgreSQL changes the catalog without rewriting \(name)"
                provenSafe = true
                replacesAdvice = true
            } else if !compatible, finding.rule == RuleDescription.alterColumnTypeCompatible.id {
                let rule = RuleDescription.alterColumnType
                finding.rule = rule.id
                finding.risk = rule.risk
                finding.strategy = rule.strategy
                reason =
                    "\(column) is \(current.type) \(on), from which \(newType) is not binary-coercible: PostgreSQL "
                    + "rewrites \(name) and its indexes under ACCESS EXCLUSIVE; use the shadow column pattern"
                replacesAdvice = true
            } else if compatible {
                provenSafe = true
            }
        }
        if finding.rule == RuleDescription.setNotNull.id, finding.risk > .low,
            let action = statement.action(at: position, where: setNotNull),
            case .setNotNull(let column) = action.kind
        {
            if table.column(named: column)?.notNull == true {
                reason = "\(column) is already NOT NULL \(on), so there is nothing to check"
            } else if table.notNullChecks.contains(column) {
                reason =
                    "a validated CHECK (\(column) IS NOT NULL) \(on) proves it, so PostgreSQL (12+) skips the scan"
            }
            if reason != nil {
                finding.risk = .low
                finding.strategy = Strategy.direct
                provenSafe = true
                replacesAdvice = true
            }
        }
        if !provenSafe, touchesRows(finding) {
            let rows =
                "\(name) has \(table.rows) rows\(table.rowSource == .counted ? " (counted: never analyzed)" : "") \(on)"
            var size: String?
            if table.rows >= thresholds.rowsHigh {
                if finding.risk < .high {
                    finding.risk = .high
                    size = "\(rows) (rows_high \(thresholds.rowsHigh)): a rewrite or scan of it is high risk"
                }
            } else if table.rows >= thresholds.rowsMedium {
                if finding.risk < .medium {
                    finding.risk = .medium
                    size = "\(rows) (rows_medium \(thresholds.rowsMedium)): a rewrite or scan of it is at least medium"
                }
            } else if finding.risk > .low {
                finding.risk = Risk.allCases[Risk.allCases.firstIndex(of: finding.risk)! - 1]
                size = "\(rows) (below rows_medium \(thresholds.rowsMedium)): a rewrite or scan of it is short"
            }
            if let size { reason = reason.map { "\($0); \(size)" } ?? size }
        }
        if let reason {
            let what = replacesAdvice ? String(finding.message.prefix { $0 != ":" }) : finding.message
            finding.message = "\(what); live schema: \(reason)"
        }
        finding.judged = Finding.Judged(
            tenant: schema.tenant, shard: schema.shard, table: name, rows: table.rows, staticRisk: staticRisk,
            reason: reason)
        return finding
    }

    /// `varchar`/`text` → `citext`: the citext extension's casts from them are WITHOUT FUNCTION (a relabel, no
    /// rewrite), but an index on the column changes operator class and is rebuilt.
    static func isCitextRelabel(from old: ColumnType, to new: ColumnType) -> Bool {
        !old.isArray && !new.isArray && ["varchar", "text"].contains(old.name)
            && (new.name == "citext" || new.name.hasSuffix(".citext"))
    }

    /// A `fk-without-index` finding for each foreign key of `statement` whose referencing columns no index leads
    /// with, on the live table or created earlier in the change.
    private static func foreignKeyFindings(_ statement: LiveTargets.Statement, schema: LiveSchema) -> [Finding] {
        guard !statement.createdInChange, let name = statement.table?.name, let table = schema.table(named: name)
        else { return [] }
        return statement.actions.compactMap { action in
            guard case .foreignKey(let columns, let referenced, let indexedBefore) = action.kind, !indexedBefore,
                !table.hasIndex(leadingWith: columns)
            else { return nil }
            let list = columns.joined(separator: ", ")
            let rule = RuleDescription.foreignKeyWithoutIndex
            let reason = "no index of \(name) on tenant \(schema.tenant) leads with (\(list))"
            return Finding(
                file: statement.file, line: action.start.line, column: action.start.column, rule: rule.id,
                risk: rule.risk, strategy: rule.strategy, lock: rule.lock,
                message: "FOREIGN KEY (\(list)) on \(name) REFERENCES \(referenced): \(reason), so every DELETE or "
                    + "key UPDATE on \(referenced) scans \(name) (\(table.rows) rows) and joins are slow; create the "
                    + "index first: CREATE INDEX CONCURRENTLY ON \(name) (\(list)) in a phase with "
                    + "`transaction: none`",
                phase: statement.phase, statement: statement.summary, acknowledged: statement.foreignKeyAcknowledged,
                judged: Finding.Judged(
                    tenant: schema.tenant, shard: schema.shard, table: name, rows: table.rows, staticRisk: rule.risk,
                    reason: reason))
        }
    }
}

extension RuleDescription {
    /// Only the live schema can tell (`flotilla lint --fleet`): eugene's E15.
    static let foreignKeyWithoutIndex = RuleDescription(
        id: "fk-without-index", risk: .medium, strategy: Strategy.onlineIndex, lock: Lock.shareRowExclusive,
        summary: "FOREIGN KEY whose referencing columns no index leads with (judged on the live schema): deletes "
            + "and key updates of the referenced table scan the referencing one."
    )

    /// The rules that only `flotilla lint --fleet` applies.
    public static let liveCatalog: [RuleDescription] = [.foreignKeyWithoutIndex]

    /// The safe rewrite of each live-schema rule, for `docs/rules.md`.
    static let liveRewrites: [String: String] = [
        "fk-without-index":
            "`CREATE INDEX CONCURRENTLY` on the referencing columns in a phase of its own (`transaction: none`) "
            + "before the foreign key is added (`NOT VALID`, then `VALIDATE CONSTRAINT`)"
    ]
}

extension ColumnType {
    /// A type as `format_type` writes it, e.g. `character varying(20)` or `numeric(10,5)[]`.
    static func parse(sql: String) -> ColumnType? {
        var cursor = TokenCursor(SQLLexer.tokens(in: sql))
        return parse(&cursor)
    }
}
