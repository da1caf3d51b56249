// Pieces repeat (" the", " a", "."), so their BPE result is remembered. A key packs a piece of up to 24
// bytes into three words; the table is open-addressed with a multiplicative hash (Swift's Dictionary
// would spend most of the encode time in SipHash). Longer pieces are rare and not cached. When half the
// slots or the id arena fill up, everything is dropped and the cache starts again. Not thread-safe on
// its own: BartTokenizer holds a lock around it.

final class WordCache {
  struct Key: Equatable {
    var a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0
    var length: UInt64 = 0

    static let maxLength = 24

    /// The empty key (marks nothing: emptiness is valueStart < 0).
    init() {}

    /// nil when the piece is too long to pack.
    @inline(__always)
    init?(_ bytes: UnsafeBufferPointer<UInt8>) {
      guard bytes.count <= Key.maxLength, let base = bytes.baseAddress else { return nil }
      length = UInt64(bytes.count)
      withUnsafeMutableBytes(of: &self) { raw in
        raw.baseAddress!.copyMemory(from: base, byteCount: bytes.count)
      }
    }

    @inline(__always)
    var hash: UInt64 {
      var h = (a &* 0x9E37_79B9_7F4A_7C15) ^ (b &* 0xC2B2_AE3D_27D4_EB4F) ^ (c &* 0x1656_67B1_9E37_79F9) ^ length
      h ^= h >> 29
      h = h &* 0xBF58_476D_1CE4_E5B9
      return h ^ (h >> 32)
    }
  }

  private let slotCount: Int  // power of two
  private let keys: UnsafeMutablePointer<Key>
  private let valueStart: UnsafeMutablePointer<Int32>  // -1: empty slot
  private let valueCount: UnsafeMutablePointer<Int32>
  private var arena: [Int32] = []
  private let arenaLimit: Int
  private var used = 0

  init(slots: Int = 1 << 17, arenaLimit: Int = 1 << 20) {
    slotCount = slots
    self.arenaLimit = arenaLimit
    keys = .allocate(capacity: slots)
    keys.initialize(repeating: Key(), count: slots)
    valueStart = .allocate(capacity: slots)
    valueStart.initialize(repeating: -1, count: slots)
    valueCount = .allocate(capacity: slots)
    valueCount.initialize(repeating: 0, count: slots)
    arena.reserveCapacity(arenaLimit)
  }

  deinit {
    keys.deallocate()
    valueStart.deallocate()
    valueCount.deallocate()
  }

  /// Appends the cached ids of `key` to `out`; false if the piece is not cached.
  @inline(__always)
  func lookup(_ key: Key, into out: inout [Int]) -> Bool {
    var slot = Int(truncatingIfNeeded: key.hash) & (slotCount - 1)
    while valueStart[slot] >= 0 {
      if keys[slot] == key {
        let start = Int(valueStart[slot])
        for i in start..<(start + Int(valueCount[slot])) { out.append(Int(arena[i])) }
        return true
      }
      slot = (slot + 1) & (slotCount - 1)
    }
    return false
  }

  func store(_ key: Key, _ ids: [Int32]) {
    if used * 2 >= slotCount || arena.count + ids.count > arenaLimit { clear() }
    var slot = Int(truncatingIfNeeded: key.hash) & (slotCount - 1)
    while valueStart[slot] >= 0 {
      if keys[slot] == key { return }
      slot = (slot + 1) & (slotCount - 1)
    }
    keys[slot] = key
    valueStart[slot] = Int32(arena.count)
    valueCount[slot] = Int32(ids.count)
    arena += ids
    used += 1
  }

  private func clear() {
    valueStart.update(repeating: -1, count: slotCount)
    arena.removeAll(keepingCapacity: true)
    used = 0
  }
}
