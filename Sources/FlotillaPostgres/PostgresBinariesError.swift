import Foundation

/// Some PostgreSQL programs are missing; the message names them and how to install them.
public struct PostgresBinariesError: Error, Sendable, Hashable, CustomStringConvertible, LocalizedError {
    public let missing: [PostgresBinaries.Tool]

    public init(missing: [PostgresBinaries.Tool]) {
        self.missing = missing
    }

    public var description: String {
        let names = missing.map(\.rawValue).joined(separator: ", ")
        let kind = missing.contains(where: \.isServer) ? "server" : "client"
        return "PostgreSQL \(kind) binaries not found (\(names)); install them with: apt-get install -y postgresql"
    }

    public var errorDescription: String? { description }
}
