// Hand-written: none of the Swift packages here computes CRC-32C (swift-crypto, swift-protobuf, ZIPFoundation).
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum TFRecord framing uses, and TensorFlow's
// "masked" form of it (tensorflow/core/lib/hash/crc32c.h `Mask`: rotate right by 15, add 0xa282ead8), which
// keeps a CRC of data that itself holds CRCs from looking like a valid CRC.

public enum CRC32C {
  private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
    return c
  }

  /// CRC-32C of `bytes` (initial value and final xor 0xFFFFFFFF, as in RFC 3720).
  public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
    var crc: UInt32 = 0xFFFF_FFFF
    table.withUnsafeBufferPointer { t in
      for b in bytes { crc = t[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
    }
    return crc ^ 0xFFFF_FFFF
  }

  /// The masked CRC TFRecord stores.
  public static func masked<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
    let crc = checksum(bytes)
    return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
  }
}
