// Pieces repeat (" the", " a", "."), so their BPE result is remembered. Keys pack up to 24 bytes into
// three words, which makes a lookup a hash of 32 bytes and no allocation; longer pieces are rare and are
// not cached. The cache is cleared when it grows past `capacity` entries.

struct WordCache {
  struct Key: Hashable {
    var a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0, length: Int = 0

    static let maxLength = 24

    /// nil when the piece is too long to pack.
    init?(_ bytes: UnsafeBufferPointer<UInt8>) {
      guard bytes.count <= Key.maxLength else { return nil }
      length = bytes.count
      for (i, byte) in bytes.enumerated() {
        let shifted = UInt64(byte) << UInt64((i & 7) * 8)
        switch i >> 3 {
        case 0: a |= shifted
        case 1: b |= shifted
        default: c |= shifted
        }
      }
    }
  }

  private var entries: [Key: [Int32]] = [:]
  let capacity: Int

  init(capacity: Int = 200_000) { self.capacity = capacity }

  func lookup(_ key: Key) -> [Int32]? { entries[key] }

  mutating func store(_ key: Key, _ ids: [Int32]) {
    if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
    entries[key] = ids
  }
}
