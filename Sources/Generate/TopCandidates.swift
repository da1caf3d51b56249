// Partial selection of the best beam-search candidates: torch.topk(scores, 2k) over the flattened
// [k·V] candidate scores (SPEC §4.2 step 4), without sorting k·V values. Exactly equal scores come out
// lower flat index first (PyTorch's order for ties is implementation-defined; SPEC §4.2 picks this one).

/// The `capacity` largest scores offered, highest first. Offer them in increasing index order: then a
/// new score only enters ahead of strictly smaller ones, which puts equal scores in index order.
struct TopCandidates {
  let capacity: Int
  private(set) var scores: [Float] = []
  private(set) var indices: [Int] = []

  init(capacity: Int) {
    self.capacity = capacity
    scores.reserveCapacity(capacity + 1)
    indices.reserveCapacity(capacity + 1)
  }

  var isFull: Bool { scores.count == capacity }

  /// Empties the list, keeping its storage (a row's list is refilled every step).
  mutating func removeAll() {
    scores.removeAll(keepingCapacity: true)
    indices.removeAll(keepingCapacity: true)
  }

  /// The score a new candidate must beat (strictly) once the list is full.
  var threshold: Float { isFull ? scores[capacity - 1] : -.infinity }

  mutating func offer(_ score: Float, index: Int) {
    if isFull && !(score > scores[capacity - 1]) { return }
    var position = scores.count
    while position > 0 && scores[position - 1] < score { position -= 1 }
    scores.insert(score, at: position)
    indices.insert(index, at: position)
    if scores.count > capacity {
      scores.removeLast()
      indices.removeLast()
    }
  }

  /// Offers row[x] + offset for x in 0..<count with index base + x, in increasing x. One float32 add per
  /// element, as PyTorch's `log_probs + running_beam_scores[:, :, None]`. Once the list is full only a score above
  /// its last one can enter (offering any other changes nothing), so blocks of 16 without one are skipped with one
  /// vector compare and only the lanes above it are offered: about one pass over the row.
  mutating func scan(_ row: UnsafePointer<Float>, count: Int, adding offset: Float, base: Int) {
    var x = 0
    while x < count && !isFull {
      offer(row[x] + offset, index: base + x)
      x += 1
    }
    let offsets = SIMD16<Float>(repeating: offset)
    var bar = threshold
    while x + 16 <= count {
      let block = UnsafeRawPointer(row + x).loadUnaligned(as: SIMD16<Float>.self) + offsets
      if any(block .> SIMD16<Float>(repeating: bar)) {
        for lane in 0..<16 where block[lane] > bar {
          offer(block[lane], index: base + x + lane)
          bar = threshold
        }
      }
      x += 16
    }
    while x < count {
      offer(row[x] + offset, index: base + x)
      x += 1
    }
  }

  /// The `capacity` best of the rows' lists, each list the best of a row whose flat indices all lie below the next
  /// row's: what one scan over all the rows in index order gives, since every candidate of the whole is among its
  /// own row's best (NaN scores aside). Each list is offered in index order.
  static func merged(_ rows: UnsafeBufferPointer<TopCandidates>, capacity: Int) -> TopCandidates {
    var top = TopCandidates(capacity: capacity)
    for row in rows {
      for rank in row.indices.indices.sorted(by: { row.indices[$0] < row.indices[$1] }) {
        top.offer(row.scores[rank], index: row.indices[rank])
      }
    }
    return top
  }
}
