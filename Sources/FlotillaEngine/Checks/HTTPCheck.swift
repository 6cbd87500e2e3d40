import AsyncHTTPClient
import FlotillaModel
import Foundation
import NIOCore

/// An `http` check: a GET to the templated URL within the check's timeout; the status, the latency and
/// optionally a body substring or a JSON field decide.
enum HTTPCheck {
    /// One client for every probe and query, for the life of the process (like `HTTPClient.shared`, which webhooks
    /// use; a static is never deinitialised, so it needs no shutdown). Unlike the shared client it does not retry a
    /// refused connection until the deadline: a refused probe is a prompt `error`. It keeps no cookies, caches
    /// nothing and follows at most 5 redirects.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: 5, allowCycles: false), decompression: .disabled)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// The most of a body read: a larger one is an `error`, not a verdict on its first part.
    static let maxBody = 16 << 20

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
        let headers = [("User-Agent", "flotilla-check"), ("Connection", "close")]
        let clock = ContinuousClock()
        let started = clock.now
        do {
            let (body, response) = try await withTimeout(timeout) {
                try await fetch(url, headers: headers, timeout: timeout)
            }
            let latency = clock.now - started
            let (verdict, detail) = verdict(probe, status: response, latency: latency, body: body)
            return (verdict, "\(response)", detail)
        } catch let error where isTimeout(error) {
            return (.error, nil, "no response within the timeout of \(timeout.milliseconds) ms from \(redacted(url))")
        } catch let error where isCancellation(error) {
            return (.error, nil, "cancelled")
        } catch {
            return (.error, nil, "request to \(redacted(url)) failed: \(describe(error))")
        }
    }

    /// The body and status of a GET, through the shared client with `timeout` as its deadline. Cancelling the
    /// task cancels the request in flight (a stopped bake does not wait for it). A password in the URL is sent
    /// as basic authentication.
    static func fetch(_ url: URL, headers: [(String, String)], timeout: Duration) async throws -> (Data, Int) {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let user = url.user(percentEncoded: false) {
            let credentials = "\(user):\(url.password(percentEncoded: false) ?? "")"
            request.headers.replaceOrAdd(
                name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        }
        let response = try await client.execute(request, timeout: .milliseconds(timeout.milliseconds))
        let body = try await response.body.collect(upTo: maxBody)
        return (Data(body.readableBytesView), Int(response.status.code))
    }

    /// Whether an error means no answer within the deadline (ours or the client's).
    static func isTimeout(_ error: any Error) -> Bool {
        if error is TimeoutError { return true }
        guard let error = error as? HTTPClientError else { return false }
        return [.deadlineExceeded, .readTimeout, .connectTimeout, .tlsHandshakeTimeout].contains(error)
    }

    /// Whether an error means the measurement was cancelled (the rollout stopped, the bake ended).
    static func isCancellation(_ error: any Error) -> Bool {
        error is CancellationError || (error as? HTTPClientError) == .cancelled
    }

    /// A failure to get an answer, in a few words.
    static func describe(_ error: any Error) -> String {
        if error is NIOTooManyBytesError { return "the body is larger than \(maxBody >> 20) MiB" }
        if let error = error as? HTTPClientError {
            switch error {
            case .remoteConnectionClosed: return "connection lost"
            case .redirectLimitReached, .redirectCycleDetected: return "too many redirects"
            default: return "\(error)"
            }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ECONNRESET: return "connection lost"
            default: return "\(error)"
            }
        }
        let text = "\(error)"
        return text.contains("refused") ? "connection refused" : text
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
