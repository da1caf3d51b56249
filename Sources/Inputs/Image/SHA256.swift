// SHA-256 (swift-crypto) of pixel or file bytes as lower-case hex: a content key for cached 768x768 images
// (duplicate detection), and the digest the fixture generator records (Python's hashlib).
import Crypto

public enum SHA256 {
  private static let hexDigits = Array("0123456789abcdef".utf8)

  /// Lower-case hex digest of `bytes`.
  public static func hex(_ bytes: [UInt8]) -> String {
    var text: [UInt8] = []
    text.reserveCapacity(64)
    for byte in Crypto.SHA256.hash(data: bytes) {
      text.append(hexDigits[Int(byte >> 4)])
      text.append(hexDigits[Int(byte & 0x0F)])
    }
    return String(decoding: text, as: UTF8.self)
  }
}
