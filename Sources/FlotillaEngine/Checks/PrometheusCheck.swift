import FlotillaModel
import Foundation

/// A `prometheus` check: an instant query (`GET <url>/api/v1/query`) within the check's timeout. Every element of a
/// vector result is judged against `min`/`max` (the failing ones named with their labels), a scalar as one value; an
/// empty result is no data: inconclusive.
enum PrometheusCheck {
    /// One element of a result: its labels (empty for a scalar) and its value as Prometheus wrote it.
    struct Sample: Sendable, Hashable {
        var labels: [String: String]
        var text: String

        var number: Double? { Double(text).flatMap { $0.isNaN ? nil : $0 } }

        /// `app_errors{tenant="t1"}`, `{tenant="t1"}`, or `scalar`.
        var name: String {
            let metric = labels["__name__"] ?? ""
            let pairs = labels.filter { $0.key != "__name__" }.sorted { $0.key < $1.key }
            if metric.isEmpty, pairs.isEmpty { return labels.isEmpty ? "scalar" : "{}" }
            let inner = pairs.map { "\($0.key)=\"\(PrometheusCheck.escape($0.value))\"" }.joined(separator: ",")
            return metric + (pairs.isEmpty ? "" : "{\(inner)}")
        }
    }

    /// What a query answered, or why it could not be read.
    enum Answer: Sendable, Equatable {
        case samples([Sample])
        case failed(String)
    }

    /// A value made safe inside a PromQL string literal opened with `quote` (`"` or `'`): backslashes, that quote and
    /// line breaks escaped (PromQL, like Go, accepts an escaped quote only of the literal's own kind), so a value can
    /// never end the literal and add to the query.
    static func escape(_ value: String, quote: Character = "\"") -> String {
        var result = ""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case quote: result += "\\\(quote)"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default: result.append(character)
            }
        }
        return result
    }

    /// Whether a value may stand outside a string literal (a metric or label name, a number): letters, digits, `_`,
    /// `:`, `.`, `-`.
    static func isBare(_ value: String) -> Bool {
        value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_:.-".contains($0)) }
    }

    /// The query with `{tenant}` `{shard}` `{wave}` `{phase}` `{rollout}` filled in: inside a `"…"` or `'…'` literal
    /// escaped for it; inside a raw `` `…` `` literal or outside any literal only when the value cannot change the
    /// query's shape (no backtick, resp. only name characters), else a message saying why not.
    static func query(_ query: PrometheusQuery, template: CheckTemplate) -> Result<String, TemplateError> {
        let values = Dictionary(template.values, uniquingKeysWith: { first, _ in first })
        var result = ""
        var quote: Character?
        var escaped = false
        var index = query.query.startIndex
        let text = query.query
        while index < text.endIndex {
            let character = text[index]
            if character == "{", let close = text[index...].firstIndex(of: "}"),
                let value = values[String(text[text.index(after: index)..<close])]
            {
                let name = String(text[text.index(after: index)..<close])
                switch quote {
                case "\"", "'": result += escape(value, quote: quote!)
                case "`":
                    guard !value.contains("`") else {
                        return .failure(
                            TemplateError("{\(name)} ('\(value)') has a backtick; it cannot go in a raw string"))
                    }
                    result += value
                default:
                    guard isBare(value) else {
                        return .failure(
                            TemplateError("{\(name)} ('\(value)') is outside a string literal and not a plain name"))
                    }
                    result += value
                }
                index = text.index(after: close)
                escaped = false
                continue
            }
            result.append(character)
            if let open = quote {
                if escaped {
                    escaped = false
                } else if character == "\\", open != "`" {
                    escaped = true
                } else if character == open {
                    quote = nil
                }
            } else if character == "\"" || character == "'" || character == "`" {
                quote = character
            }
            index = text.index(after: index)
        }
        return .success(result)
    }

    struct TemplateError: Error, Equatable {
        var message: String
        init(_ message: String) { self.message = message }
    }

    /// `<url>/api/v1/query?query=…`, the query percent-encoded.
    static func requestURL(base: String, query: String) -> URL? {
        var text = base
        while text.hasSuffix("/") { text.removeLast() }
        guard var parts = URLComponents(string: text + "/api/v1/query") else { return nil }
        parts.queryItems = [URLQueryItem(name: "query", value: query)]
        // `+` is a space to many servers: encode it, and the rest URLComponents leaves alone in a query.
        parts.percentEncodedQuery = parts.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return parts.url
    }

    /// Reads an API answer: `{"status":"success","data":{"resultType":"vector","result":[…]}}`.
    static func parse(status: Int, body: Data) -> Answer {
        guard let document = try? JSONDecoder().decode(JSONValue.self, from: body) else {
            return .failed("HTTP \(status), not a Prometheus API answer\(HTTPCheck.snippet(body))")
        }
        guard document.value(at: "status") == .string("success") else {
            let kind = document.value(at: "errorType")?.text ?? "error"
            let error = document.value(at: "error")?.text ?? "HTTP \(status)"
            return .failed("Prometheus answered \(kind): \(error)")
        }
        let type = document.value(at: "data.resultType")?.text ?? ""
        switch (type, document.value(at: "data.result")) {
        case ("vector", .array(let items)?):
            var samples: [Sample] = []
            for item in items {
                var labels: [String: String] = [:]
                if case .object(let metric)? = item.value(at: "metric") {
                    for (key, value) in metric { labels[key] = value.text }
                }
                guard let value = item.value(at: "value.1") else { continue }
                samples.append(Sample(labels: labels, text: value.text))
            }
            return .samples(samples)
        case ("scalar", .array(let pair)?) where pair.count == 2:
            return .samples([Sample(labels: [:], text: pair[1].text)])
        case ("matrix", _):
            return .failed("the query returned a range vector (matrix); give an instant vector or a scalar")
        default:
            return .failed(
                "the query returned \(type.isEmpty ? "nothing readable" : type); expected a vector or a scalar")
        }
    }

    /// The worst element: the highest value, or the lowest when only `min` is given (a floor).
    static func worst(_ samples: [Sample], higherIsWorse: Bool) -> Sample? {
        let numbered = samples.filter { $0.number != nil }
        return higherIsWorse
            ? numbered.max { $0.number! < $1.number! } : numbered.min { $0.number! < $1.number! }
    }

    /// Judges samples: any element outside `min`…`max` fails (each named); no element (or only NaN) is
    /// inconclusive; otherwise pass. The value is the worst element's.
    static func verdict(_ samples: [Sample], query: PrometheusQuery) -> (
        verdict: CheckMeasurement.Verdict, value: String?, detail: String
    ) {
        let higherIsWorse = !(query.min != nil && query.max == nil)
        guard let worst = worst(samples, higherIsWorse: higherIsWorse) else {
            return (
                .inconclusive, nil,
                samples.isEmpty ? "the query returned no data" : "the query returned only NaN (\(samples.count))"
            )
        }
        var failing: [String] = []
        for sample in samples.sorted(by: { $0.name < $1.name }) {
            guard let number = sample.number else { continue }
            if let min = query.min, number < min {
                failing.append("\(sample.name) = \(sample.text), below min \(SQLCheck.format(min))")
            } else if let max = query.max, number > max {
                failing.append("\(sample.name) = \(sample.text), above max \(SQLCheck.format(max))")
            }
        }
        if !failing.isEmpty {
            let shown = failing.prefix(5).joined(separator: "; ") + (failing.count > 5 ? "; …" : "")
            return (.fail, worst.text, "\(failing.count) of \(samples.count) failing: \(shown)")
        }
        let bounds = SQLCheck.bounds(query.min, query.max)
        if samples.count == 1 { return (.pass, worst.text, "\(worst.name) = \(worst.text)\(bounds)") }
        return (.pass, worst.text, "\(samples.count) elements, worst \(worst.name) = \(worst.text)\(bounds)")
    }

    /// Runs the query; never throws: a failure to measure (refused, timed out, a bad query) is an `error`.
    static func measure(_ query: PrometheusQuery, template: CheckTemplate, timeout: Duration) async -> (
        verdict: CheckMeasurement.Verdict, value: String?, detail: String
    ) {
        let promQL: String
        switch Self.query(query, template: template) {
        case .success(let filled): promQL = filled
        case .failure(let error): return (.error, nil, error.message)
        }
        guard let url = requestURL(base: query.url, query: promQL), let scheme = url.scheme,
            ["http", "https"].contains(scheme.lowercased())
        else {
            return (.error, nil, "not a valid http(s) URL: \(query.url)")
        }
        let headers = [("User-Agent", "flotilla-check"), ("Accept", "application/json"), ("Connection", "close")]
        let server = HTTPCheck.redacted(URL(string: query.url) ?? url)
        do {
            let (body, status) = try await withTimeout(timeout) {
                try await HTTPCheck.fetch(url, headers: headers, timeout: timeout)
            }
            switch parse(status: status, body: body) {
            case .failed(let why): return (.error, nil, why)
            case .samples(let samples): return verdict(samples, query: query)
            }
        } catch let error where HTTPCheck.isTimeout(error) {
            return (.error, nil, "no answer within the timeout of \(timeout.milliseconds) ms from \(server)")
        } catch let error where HTTPCheck.isCancellation(error) {
            return (.error, nil, "cancelled")
        } catch {
            return (.error, nil, "query to \(server) failed: \(HTTPCheck.describe(error))")
        }
    }
}
