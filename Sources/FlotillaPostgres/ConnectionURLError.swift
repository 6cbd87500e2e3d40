import Foundation

/// Why a connection URL could not be parsed.
///
/// The message says what is wrong and where; it never contains a password, so it is safe to log
/// and to show.
public struct ConnectionURLError: Error, Sendable, Hashable, CustomStringConvertible, LocalizedError {
    /// The kind of problem, for code that wants to react to one in particular.
    public enum Code: String, Sendable, Hashable {
        case empty
        case unsupportedScheme
        case malformed
        case invalidPort
        case invalidSSLMode
        case invalidConnectTimeout
        case unsupportedParameter
        case multipleHosts
        case missingHost
        case missingUser
    }

    public let code: Code
    /// A human-readable explanation, free of secrets.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "invalid connection URL: \(message)" }

    public var errorDescription: String? { description }
}
