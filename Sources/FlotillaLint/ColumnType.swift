/// A column type as written in SQL, reduced to PostgreSQL's canonical base type and type modifiers,
/// enough to tell whether changing one into another rewrites the table.
struct ColumnType: Hashable, Sendable, CustomStringConvertible {
    /// Canonical base name: `int4`, `int8`, `varchar`, `bpchar`, `text`, `numeric`, `timestamptz`…
    var name: String
    /// Type modifiers: `varchar(20)` → `[20]`, `numeric(10,2)` → `[10, 2]`.
    var modifiers: [Int]
    var isArray: Bool
    /// `serial`, `bigserial`, `smallserial`: an integer with a `nextval()` default.
    var isSerial: Bool
    /// The type as written, for messages.
    var written: String

    var description: String { written }

    /// Reads a type name at the cursor: `int`, `character varying(20)`, `timestamp(3) with time zone`,
    /// `numeric(10, 2)[]`, `public.my_domain`. Nil when the cursor is not on a name.
    static func parse(_ cursor: inout TokenCursor) -> ColumnType? {
        let start = cursor.position
        guard let first = cursor.current, first.kind == .word || first.kind == .quotedIdentifier else { return nil }
        var words: [String] = []
        var modifiers: [Int] = []

        func readModifiers() {
            guard let inside = cursor.parenthesized() else { return }
            modifiers = inside.filter { $0.kind == .number }.compactMap { Int($0.text) }
        }

        if cursor.accept("double", "precision") {
            words = ["double precision"]
        } else if cursor.accept("character", "varying") || cursor.accept("char", "varying") {
            words = ["varchar"]
        } else if cursor.accept("national", "character", "varying") || cursor.accept("national", "char", "varying") {
            words = ["varchar"]
        } else if cursor.accept("national", "character") || cursor.accept("national", "char") {
            words = ["bpchar"]
        } else if cursor.accept("bit", "varying") {
            words = ["varbit"]
        } else if let name = cursor.qualifiedName() {
            words = [
                name.parts.count > 1 && name.schema == "pg_catalog" ? name.name : name.parts.joined(separator: ".")
            ]
        }
        readModifiers()
        // timestamp/time [(p)] with|without time zone; interval fields
        if words.first == "timestamp" || words.first == "time" {
            if cursor.accept("with", "time", "zone") {
                words = [words[0] + "tz"]
            } else {
                cursor.accept("without", "time", "zone")
            }
        } else if words.first == "interval" {
            let fields = ["year", "month", "day", "hour", "minute", "second", "to"]
            while let token = cursor.current, fields.contains(where: { token.isKeyword($0) }) { cursor.advance() }
            readModifiers()
        }
        var isArray = false
        while cursor.atSymbol("[") {
            cursor.skipTerm()
            isArray = true
        }
        if cursor.accept("array") {
            isArray = true
            if cursor.atSymbol("[") { cursor.skipTerm() }
        }
        let written = cursor.tokens[start..<cursor.position].sourceText
        var type = ColumnType(
            name: words.first ?? "", modifiers: modifiers, isArray: isArray, isSerial: false, written: written
        )
        type.canonicalize()
        return type
    }

    private mutating func canonicalize() {
        switch name {
        case "int", "integer", "int4": name = "int4"
        case "bigint", "int8": name = "int8"
        case "smallint", "int2": name = "int2"
        case "serial", "serial4":
            name = "int4"
            isSerial = true
        case "bigserial", "serial8":
            name = "int8"
            isSerial = true
        case "smallserial", "serial2":
            name = "int2"
            isSerial = true
        case "real", "float4": name = "float4"
        case "double precision", "float8": name = "float8"
        case "float":
            name = (modifiers.first ?? 53) <= 24 ? "float4" : "float8"
            modifiers = []
        case "decimal", "numeric": name = "numeric"
        case "character varying", "varchar": name = "varchar"
        case "character", "char", "bpchar":
            name = "bpchar"
            if modifiers.isEmpty { modifiers = [1] }
        case "bit":
            if modifiers.isEmpty { modifiers = [1] }
        case "bool", "boolean": name = "bool"
        default: break
        }
    }

    /// Whether the catalog change alone does it: PostgreSQL 15 changes the type without rewriting
    /// the table (binary-coercible, or a length/precision coercion its support function elides).
    static func isBinaryCoercible(from old: ColumnType, to new: ColumnType) -> Bool {
        guard old.isArray == new.isArray else { return false }
        if old.name == new.name {
            if old.isArray || old.modifiers == new.modifiers { return old.modifiers == new.modifiers }
            switch new.name {
            case "varchar", "varbit":
                // varchar_support / varbit_support: widening or dropping the limit.
                guard let newLength = new.modifiers.first else { return true }
                guard let oldLength = old.modifiers.first else { return false }
                return newLength >= oldLength
            case "numeric":
                // numeric_support: same scale and no smaller precision, or dropping the limit.
                guard let newPrecision = new.modifiers.first else { return true }
                guard let oldPrecision = old.modifiers.first else { return false }
                let oldScale = old.modifiers.count > 1 ? old.modifiers[1] : 0
                let newScale = new.modifiers.count > 1 ? new.modifiers[1] : 0
                return newScale == oldScale && newPrecision >= oldPrecision
            case "timestamp", "timestamptz", "time", "timetz", "interval":
                // timestamp_support & co.: more (or default, 6) fractional digits.
                let oldDigits = old.modifiers.first ?? 6
                let newDigits = new.modifiers.first ?? 6
                return newDigits >= oldDigits
            default:
                return false
            }
        }
        guard !old.isArray else { return false }
        switch (old.name, new.name) {
        case ("varchar", "text"), ("cidr", "inet"):
            return true
        case ("text", "varchar"):
            return new.modifiers.isEmpty
        default:
            return false
        }
    }

    /// When the old type is not known from the change: only `text` and unbounded `varchar` are
    /// binary-coercible from the usual string columns; anything else may rewrite.
    static func isSafeTarget(whenOldTypeIsUnknown new: ColumnType) -> Bool {
        !new.isArray && (new.name == "text" || (new.name == "varchar" && new.modifiers.isEmpty))
    }
}
