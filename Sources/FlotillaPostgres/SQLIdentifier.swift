// Quoting of identifiers and string literals (`quoteIdentifier`, `quoteQualified`, `quoteLiteral`…) lives in
// FlotillaSQL, which the model's generated SQL uses too; every module that imports FlotillaPostgres sees it.
@_exported import FlotillaSQL
