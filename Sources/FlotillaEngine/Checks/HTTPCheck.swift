import FlotillaModel
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// An `http` check: a GET to the templated URL within the check's timeout; the status, the latency and
/// optionally a body substring or a JSON field decide.
enum HTTPCheck {
    /// One session for every probe: no cache, no cookies, no credentials kept between requests.
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.httpMaximumConnectionsPerHost = 16
        return URLSession(configuration: configuration)
    }()

    /// Judges a response: a status other than the expected one fails, so does a latency above `max_latency`, a
    /// body without `body_contains`, or a JSON field whose value is not `equals`; a JSON field that is missing
    /// (or null) is no data: inconclusive.
    static func verdict(_ probe: HTTPProbe, status: Int, latency: Duration, body: Data) -> (
        CheckMeasurement.Verdict, String
    ) {
        let milliseconds = latency.milliseconds
        if status != probe.status {
            return (.fail, "HTTP \(status), expected \(probe.status)\(snippet(body))")
        }
        if let limit = probe.maxLatency, latency > limit {
            return (.fail, "HTTP \(status) in \(milliseconds) ms, more than max_latency \(limit.milliseconds) ms")
        }
        if let needle = probe.bodyContains, !String(decoding: body, as: UTF8.self).contains(needle) {
            return (.fail, "HTTP \(status), but the body does not contain '\(needle)'\(snippet(body))")
        }
        if let path = probe.jsonField {
            guard let document = try? JSONDecoder().decode(JSONValue.self, from: body) else {
                return (.fail, "HTTP \(status), but the body is not JSON\(snippet(body))")
            }
            guard let field = document.value(at: path), field != .null else {
                return (.inconclusive, "HTTP \(status), but the JSON has no value at '\(path)'")
            }
            if let expected = probe.jsonEquals {
                guard field.matches(expected) else {
                    return (.fail, "HTTP \(status), \(path) is \(field.text), expected \(expected)")
                }
                return (.pass, "HTTP \(status) in \(milliseconds) ms, \(path) is \(field.text)")
            }
            if field == .bool(false) { return (.fail, "HTTP \(status), \(path) is false") }
            return (.pass, "HTTP \(status) in \(milliseconds) ms, \(path) is \(field.text)")
        }
        return (.pass, "HTTP \(status) in \(milliseconds) ms")
    }

    /// The start of a body for a measurement's detail: whitespace collapsed, at most 80 characters.
    static func snippet(_ body: Data) -> String {
        let words = String(decoding: body.prefix(2000), as: UTF8.self).split(whereSeparator: \.isWhitespace)
        let text = words.joined(separator: " ")
        guard !text.isEmpty else { return "" }
        return ": " + (text.count > 80 ? text.prefix(80) + "…" : text)
    }

    /// Sends the request; never throws: a failure to measure (refused, timed out, a bad URL) is an `error`.
    static func measure(_ probe: HTTPProbe, template: CheckTemplate, timeout: Duration) async -> (
        verdict: CheckMeasurement.Verdict, value: String?, detail: String
    ) {
        let text = template.fillURL(probe.url)
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme.lowercased())
        else {
            return (.error, nil, "not a valid http(s) URL: \(text)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = "GET"
        request.timeoutInterval = Double(timeout.milliseconds) / 1000
        request.setValue("flotilla-check", forHTTPHeaderField: "User-Agent")
        request.setValue("close", forHTTPHeaderField: "Connection")
        let clock = ContinuousClock()
        let started = clock.now
        let prepared = request
        do {
            let (body, response) = try await withTimeout(timeout) { try await fetch(prepared) }
            let latency = clock.now - started
            let (verdict, detail) = verdict(probe, status: response, latency: latency, body: body)
            return (verdict, "\(response)", detail)
        } catch is TimeoutError {
            return (.error, nil, "no response within the timeout of \(timeout.milliseconds) ms from \(redacted(url))")
        } catch let error as URLError where error.code == .timedOut {
            return (.error, nil, "no response within the timeout of \(timeout.milliseconds) ms from \(redacted(url))")
        } catch let error as URLError where error.code == .cancelled {
            return (.error, nil, "cancelled")
        } catch is CancellationError {
            return (.error, nil, "cancelled")
        } catch {
            return (.error, nil, "request to \(redacted(url)) failed: \(describe(error))")
        }
    }

    /// The body and status of a response. Uses the completion-handler API and cancels the data task when the
    /// measurement is cancelled: on Linux, cancelling `URLSession.data(for:)` in flight can leave it suspended
    /// forever (swift-corelibs-foundation), which would hang the bake that waits for it.
    static func fetch(_ request: URLRequest) async throws -> (Data, Int) {
        let handle = DataTaskHandle()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Data, Int), any Error>) in
                let task = session.dataTask(with: request) { data, response, error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else {
                        continuation.resume(
                            returning: (data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 0))
                    }
                }
                handle.start(task)
            }
        } onCancel: {
            handle.cancel()
        }
    }

    /// The data task of one request, cancelled once whether the cancellation comes before or after it starts.
    final class DataTaskHandle: @unchecked Sendable {
        private let lock = NSLock()
        private var task: URLSessionDataTask?
        private var cancelled = false

        func start(_ task: URLSessionDataTask) {
            lock.lock()
            self.task = task
            let cancelled = self.cancelled
            lock.unlock()
            task.resume()
            if cancelled { task.cancel() }
        }

        func cancel() {
            lock.lock()
            cancelled = true
            let task = self.task
            lock.unlock()
            task?.cancel()
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? URLError {
            switch error.code {
            case .cannotConnectToHost: return "connection refused"
            case .cannotFindHost: return "unknown host"
            case .networkConnectionLost: return "connection lost"
            case .badServerResponse: return "bad server response"
            default: return error.localizedDescription
            }
        }
        return "\(error)"
    }

    /// The URL without a password.
    static func redacted(_ url: URL) -> String {
        guard url.password != nil, var parts = URLComponents(url: url, resolvingAgainstBaseURL: false) else {
            return url.absoluteString
        }
        parts.password = "***"
        return parts.string ?? url.absoluteString
    }
}

/// A parsed JSON document, for `json_field`.
enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// The value at a dotted path: `status`, `db.lag`, `checks.0.ok`.
    func value(at path: String) -> JSONValue? {
        var current = self
        for key in path.split(separator: ".", omittingEmptySubsequences: false).map(String.init) {
            switch current {
            case .object(let fields):
                guard let next = fields[key] else { return nil }
                current = next
            case .array(let items):
                guard let index = Int(key), items.indices.contains(index) else { return nil }
                current = items[index]
            default:
                return nil
            }
        }
        return current
    }

    var text: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let value):
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .string(let value): return value
        case .array(let items): return "[\(items.map(\.text).joined(separator: ", "))]"
        case .object: return "{…}"
        }
    }

    /// Equal to `expected` as text, or as numbers when both are numbers.
    func matches(_ expected: String) -> Bool {
        if text == expected { return true }
        if case .number(let value) = self, let number = Double(expected) { return value == number }
        return false
    }
}
