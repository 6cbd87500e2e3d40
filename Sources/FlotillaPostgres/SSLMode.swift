/// libpq's `sslmode`: whether and how a connection uses TLS.
///
/// The raw values are libpq's spellings, so `SSLMode(rawValue: "verify-full")` parses a URL's
/// `?sslmode=` or `PGSSLMODE`. As in libpq, only the `verify-*` modes check the server's
/// certificate; `prefer`, `allow` and `require` encrypt without authenticating the server.
public enum SSLMode: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Never use TLS.
    case disable
    /// Use TLS when the server offers it, without checking its certificate.
    case allow
    /// Use TLS when the server offers it, without checking its certificate (the default).
    case prefer
    /// Always use TLS, without checking the server's certificate.
    case require
    /// Always use TLS and check that the server's certificate is signed by a trusted authority.
    case verifyCA = "verify-ca"
    /// Always use TLS, check the certificate chain and that the certificate names the host.
    case verifyFull = "verify-full"

    public var description: String { rawValue }
}
