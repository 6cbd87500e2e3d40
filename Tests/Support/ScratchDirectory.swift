import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Creates a new, uniquely named folder under `/tmp` (with `mkdtemp`) that the `postgres` OS user
/// can enter, for an ``FlotillaPostgres/EmbeddedPostgres`` of a test's own. The caller removes it.
///
/// The path stays short, so the server's Unix socket fits in it.
public func makeScratchDirectory(prefix: String = "flotilla-test") throws -> URL {
    var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
    guard let created = mkdtemp(&template) else {
        throw TestClusterError("cannot create a folder under /tmp: \(String(cString: strerror(errno)))")
    }
    let path = String(cString: created)
    // mkdtemp makes it 0700; as root, the server runs as 'postgres' and must be able to enter it.
    chmod(path, 0o711)
    return URL(fileURLWithPath: path, isDirectory: true)
}
