// The BPE model of the `tokenizers` library (tokenizers/src/models/bpe/{model,word}.rs), without dropout:
// a word starts as one symbol per byte (its byte-level character), then the pair with the lowest merge
// rank is merged, leftmost first among equal ranks, until no pair has a merge. Same queue discipline as
// `Word::merge_all`, stale-entry check included, so ties and oddities resolve as they do there.

struct BytePairModel {
  /// byte -> id of its single-character token.
  let byteIds: [Int32]
  /// (left id << 32 | right id) -> (rank << 32 | merged id). A pair listed twice keeps its later rank,
  /// as the library's HashMap collect does.
  let merges: [UInt64: UInt64]

  init(vocab: [String: Int], merges pairs: [(String, String)], file: String) throws {
    var byteIds = [Int32](repeating: -1, count: 256)
    for b in 0..<256 {
      guard let id = vocab[ByteLevel.spell([UInt8(b)])] else {
        throw TokenizerError(file: file, problem: "vocabulary lacks the byte-level token for byte \(b)")
      }
      byteIds[b] = Int32(id)
    }
    var merges: [UInt64: UInt64] = [:]
    merges.reserveCapacity(pairs.count)
    for (rank, (a, b)) in pairs.enumerated() {
      guard let left = vocab[a], let right = vocab[b] else {
        throw TokenizerError(file: file, problem: "merge \(rank) \"\(a) \(b)\" uses a token not in the vocabulary")
      }
      guard let merged = vocab[a + b] else {
        throw TokenizerError(file: file, problem: "merge \(rank) makes \"\(a + b)\", which is not in the vocabulary")
      }
      merges[UInt64(left) << 32 | UInt64(right)] = UInt64(rank) << 32 | UInt64(merged)
    }
    self.byteIds = byteIds
    self.merges = merges
  }

  @inline(__always)
  private func merge(_ left: Int32, _ right: Int32) -> (rank: UInt32, id: Int32)? {
    guard let m = merges[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))] else { return nil }
    return (UInt32(m >> 32), Int32(truncatingIfNeeded: m & 0xFFFF_FFFF))
  }

  /// Token ids of one pre-tokenized piece, appended to `out`.
  func encodeWord(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
    let n = bytes.count
    if n == 0 { return }
    if n == 1 {
      out.append(byteIds[Int(bytes[0])])
      return
    }
    var symbol = bytes.map { byteIds[Int($0)] }
    var prev = Array(-1..<(n - 1))
    var next = Array(1...n)
    next[n - 1] = -1
    var alive = [Bool](repeating: true, count: n)

    var queue = MergeQueue()
    for i in 0..<(n - 1) {
      if let m = merge(symbol[i], symbol[i + 1]) { queue.push(rank: m.rank, pos: i, id: m.id) }
    }
    while let top = queue.pop() {
      let pos = top.pos
      guard alive[pos], next[pos] != -1 else { continue }
      let right = next[pos]
      // An entry whose pair has changed since it was queued is stale.
      guard let m = merge(symbol[pos], symbol[right]), m.id == top.id else { continue }
      symbol[pos] = top.id
      alive[right] = false
      next[pos] = next[right]
      if next[right] != -1 { prev[next[right]] = pos }
      if prev[pos] != -1, let m = merge(symbol[prev[pos]], symbol[pos]) {
        queue.push(rank: m.rank, pos: prev[pos], id: m.id)
      }
      if next[pos] != -1, let m = merge(symbol[pos], symbol[next[pos]]) {
        queue.push(rank: m.rank, pos: pos, id: m.id)
      }
    }
    var i = 0
    while i != -1 {
      out.append(symbol[i])
      i = next[i]
    }
  }
}

/// Min-heap of pending merges ordered by (rank, position), like the library's `BinaryHeap<Merge>`.
struct MergeQueue {
  private var keys: [UInt64] = []  // rank << 32 | pos: comparing keys compares (rank, pos)
  private var ids: [Int32] = []

  mutating func push(rank: UInt32, pos: Int, id: Int32) {
    keys.append(UInt64(rank) << 32 | UInt64(pos))
    ids.append(id)
    var i = keys.count - 1
    while i > 0 {
      let parent = (i - 1) / 2
      if keys[parent] <= keys[i] { break }
      keys.swapAt(parent, i)
      ids.swapAt(parent, i)
      i = parent
    }
  }

  mutating func pop() -> (pos: Int, id: Int32)? {
    guard let topKey = keys.first else { return nil }
    let top = (pos: Int(topKey & 0xFFFF_FFFF), id: ids[0])
    let last = keys.count - 1
    keys.swapAt(0, last)
    ids.swapAt(0, last)
    keys.removeLast()
    ids.removeLast()
    var i = 0
    let n = keys.count
    while true {
      let l = 2 * i + 1, r = l + 1
      var smallest = i
      if l < n && keys[l] < keys[smallest] { smallest = l }
      if r < n && keys[r] < keys[smallest] { smallest = r }
      if smallest == i { break }
      keys.swapAt(smallest, i)
      ids.swapAt(smallest, i)
      i = smallest
    }
    return top
  }
}
