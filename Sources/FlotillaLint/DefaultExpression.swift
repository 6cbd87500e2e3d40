/// What a column default does to existing rows when the column is added: PostgreSQL 11+ stores a
/// non-volatile default once in the catalog; a volatile one is evaluated per row, rewriting the table.
enum DefaultExpression: Equatable {
    /// No default, or `DEFAULT NULL`.
    case none
    /// Constants, casts, operators and immutable/stable functions (`false`, `0`, `'x'`, `now()`,
    /// `CURRENT_TIMESTAMP`): evaluated once.
    case nonVolatile
    /// Calls a volatile function (`random()`, `gen_random_uuid()`, `nextval(…)`…).
    case volatile(function: String)
    /// Calls a function flotilla does not know; its volatility decides.
    case unknown(function: String)

    /// Functions whose result differs per row.
    static let volatileFunctions: Set<String> = [
        "clock_timestamp", "random", "random_normal", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
        "uuid_generate_v4", "uuid_generate_v7", "uuidv4", "uuidv7", "timeofday", "nextval", "currval", "lastval",
        "setval", "txid_current", "pg_current_xact_id", "gen_random_bytes", "gen_salt", "crypt",
    ]

    /// Immutable and stable built-ins (and SQL constructs that look like calls) seen in defaults.
    static let nonVolatileFunctions: Set<String> = [
        "now", "transaction_timestamp", "statement_timestamp", "current_timestamp", "current_time", "localtime",
        "localtimestamp", "current_setting", "current_schema",
        "current_database", "current_user", "session_user", "lower", "upper", "trim", "btrim", "ltrim", "rtrim",
        "concat", "concat_ws", "format", "coalesce", "nullif", "greatest", "least", "make_date", "make_time",
        "make_timestamp", "make_timestamptz", "make_interval", "to_timestamp", "to_date", "to_char", "to_number",
        "date_trunc", "date_part", "extract", "timezone", "length", "char_length", "md5", "sha256", "abs", "round",
        "floor", "ceil", "ceiling", "substring", "substr", "replace", "left", "right", "lpad", "rpad", "repeat",
        "array", "row", "cast", "jsonb_build_object", "json_build_object", "jsonb_build_array", "json_build_array",
        "to_json", "to_jsonb", "array_fill", "string_to_array", "array_to_string", "regexp_replace", "translate",
        "encode", "decode", "uuid_nil", "uuid_ns_dns", "uuid_ns_url", "uuid_ns_oid", "uuid_ns_x500",
        "uuid_generate_v3", "uuid_generate_v5", "inet", "interval", "timestamp", "timestamptz", "date", "time",
        "numeric", "int", "int2", "int4", "int8", "integer", "bigint", "smallint", "text", "varchar", "bool",
        "boolean", "float4", "float8", "jsonb", "json", "uuid", "bytea", "point", "daterange", "tstzrange",
        "tsrange", "int4range", "int8range", "numrange",
    ]

    /// Type names that read as functions only in a cast (`uuid('…')`, `date('2024-01-01')`).
    static let castFunctions: Set<String> = [
        "inet", "interval", "timestamp", "timestamptz", "date", "time", "numeric", "int", "int2", "int4", "int8",
        "integer", "bigint", "smallint", "text", "varchar", "bool", "boolean", "float4", "float8", "jsonb", "json",
        "uuid", "bytea", "point",
    ]

    /// Classifies the tokens of a default expression (what follows `DEFAULT`).
    static func classify(_ tokens: ArraySlice<SQLToken>) -> DefaultExpression {
        let tokens = Array(tokens)
        if tokens.isEmpty || (tokens.count == 1 && tokens[0].isKeyword("null")) { return .none }
        var unknown: String?
        for (i, token) in tokens.enumerated() where token.kind == .word || token.kind == .quotedIdentifier {
            guard i + 1 < tokens.count, tokens[i + 1].isSymbol("(") else { continue }
            // A type in a cast (`'1'::numeric(10,2)`) is not a call.
            if i > 0, tokens[i - 1].isSymbol("::") { continue }
            guard let name = token.identifier else { continue }
            if volatileFunctions.contains(name) { return .volatile(function: name) }
            // A type name called with no argument is not a cast (`uuid('…')` is): `uuid()` makes a new value
            // per call, and any other such call is a function Flotilla does not know.
            if castFunctions.contains(name), i + 2 < tokens.count, tokens[i + 2].isSymbol(")") {
                if name == "uuid" { return .volatile(function: name) }
                if unknown == nil { unknown = token.text }
                continue
            }
            if !nonVolatileFunctions.contains(name), unknown == nil {
                let qualified =
                    i >= 2 && tokens[i - 1].isSymbol(".") ? "\(tokens[i - 2].text).\(token.text)" : token.text
                unknown = qualified
            }
        }
        if let unknown { return .unknown(function: unknown) }
        return .nonVolatile
    }
}
