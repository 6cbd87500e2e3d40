import FlotillaModel

/// HMAC-SHA256 (RFC 2104) on the dependency-free `SHA256`: signs webhook bodies for `X-Flotilla-Signature`.
public enum HMACSHA256 {
    static let blockSize = 64

    public static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var block = key.count > blockSize ? SHA256.digest(key) : key
        block += [UInt8](repeating: 0, count: blockSize - block.count)
        let inner = SHA256.digest(block.map { $0 ^ 0x36 } + message)
        return SHA256.digest(block.map { $0 ^ 0x5c } + inner)
    }

    /// The MAC in lower-case hex.
    public static func hex(key: [UInt8], message: [UInt8]) -> String {
        mac(key: key, message: message).map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }

    /// The value of `X-Flotilla-Signature` for `body` signed with `secret`: `sha256=<hex>`.
    public static func signature(secret: String, body: [UInt8]) -> String {
        "sha256=" + hex(key: Array(secret.utf8), message: body)
    }
}
