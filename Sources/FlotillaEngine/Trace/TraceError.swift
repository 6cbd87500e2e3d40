/// A trace that could not be made: the tenant's schema could not be dumped or restored, or the scratch database
/// could not be created. Never carries a password.
public struct TraceError: Error, Sendable, CustomStringConvertible {
    public var tenant: String
    public var message: String

    public init(tenant: String, message: String) {
        self.tenant = tenant
        self.message = message
    }

    public var description: String { "trace of tenant \(tenant): \(message)" }
}
