import Foundation
import Hummingbird

/// The bearer token that mutating calls must present. Never printed: its description is `***`.
public struct APIToken: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let bytes: [UInt8]

    /// nil when `text` holds nothing but white space.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        bytes = Array(trimmed.utf8)
    }

    public var description: String { "***" }
    public var debugDescription: String { "***" }

    /// Compares in time that depends only on the length of this token, not on where `candidate` differs.
    public func matches(_ candidate: some Collection<UInt8>) -> Bool {
        let candidate = Array(candidate)
        var difference = UInt(bitPattern: candidate.count ^ bytes.count)
        for index in bytes.indices {
            let byte = index < candidate.count ? candidate[index] : 0
            difference |= UInt(byte ^ bytes[index])
        }
        return difference == 0
    }
}

/// Lets a mutating request through only with `Authorization: Bearer TOKEN`.
func authorize(_ request: Request, token: APIToken?) throws {
    guard let token else {
        throw APIError(
            .forbidden,
            "mutating calls are disabled: the server was started without a token (FLOTILLA_API_TOKEN or --token-file)")
    }
    let challenge: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"flotilla\""]
    guard let header = request.headers[.authorization] else {
        throw APIError(.unauthorized, "missing Authorization: Bearer token", headers: challenge)
    }
    let prefix = "bearer "
    guard header.count > prefix.count, header.prefix(prefix.count).lowercased() == prefix else {
        throw APIError(.unauthorized, "the Authorization header must say Bearer TOKEN", headers: challenge)
    }
    let presented = header.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
    guard token.matches(presented.utf8) else {
        throw APIError(.unauthorized, "wrong token", headers: challenge)
    }
}
