// The decoder's KV cache for generation (transformers' EncoderDecoderCache: a self-attention cache that
// grows by one position per step, a cross-attention cache computed once per image). Rows are the sequences
// being decoded (images × beams); `reorder` is beam search's `_reorder_cache`.
//
// Beam search forks and drops sequences every step. transformers gathers the whole cache along the batch
// axis each time (index_select); here nothing is copied: each position keeps the keys/values of the rows
// that were live when it was fed, in `slots`, and each row keeps the slot it descends from at every position
// (`ancestry`). A reorder only permutes those short integer lists.
import FlrCore

public struct DecoderState {
  /// Sequences decoded together; row r belongs to image `imageOfRow[r]`.
  public private(set) var rows: Int
  public internal(set) var imageOfRow: [Int]
  /// Tokens already fed per row (the position of the next token).
  public internal(set) var length = 0
  /// S: encoder tokens per image.
  public let encoderLength: Int
  let dim: Int, heads: Int
  /// Per layer [images, heads, hd, paddedS]: each head's cross keys transposed (Attention.stepSharedKeys),
  /// shared by all rows of an image, never copied per beam.
  let crossKeysT: [Tensor]
  /// Per layer [images, heads, S, hd]: each head's values in one contiguous block (a step reads them as one
  /// stream per head).
  let crossValues: [Tensor]
  /// Whether crossKeysT and crossValues hold bf16 values (Attention.bf16Packed, read through bf16Values): the
  /// cache of a bf16 model, half the bytes every step reads for them.
  public let crossCacheIsBF16: Bool
  /// Per layer [capacity, slots, d]: position p, slot s holds the key/value a row fed at p from slot s.
  var selfKeys: [Tensor], selfValues: [Tensor]
  var capacity: Int
  /// Rows at the start (rows only ever shrink).
  let slots: Int
  /// ancestry[r][p]: the slot holding row r's key/value at position p, for p < length.
  var ancestry: [[Int32]]
  /// For the step being computed: row r's key/value rows as float offsets into selfKeys[l] (and selfValues[l]),
  /// positions 0...length, at selfOffsets[r · (length + 1) + p]. Set by `beginStep`.
  private(set) var selfOffsets: [Int] = []

  init(
    crossKeys: [Tensor], crossValues: [Tensor], imageOfRow: [Int], encoderLength: Int, dim: Int, heads: Int,
    capacity: Int, bf16CrossCache: Bool = false
  ) {
    let keysT = crossKeys.map { Self.transposedPerHead($0, keyLength: encoderLength, dim: dim, heads: heads) }
    crossKeysT = bf16CrossCache ? keysT.map(Attention.bf16Packed) : keysT
    let valuesPerHead = crossValues.map { Self.perHead($0, keyLength: encoderLength, dim: dim, heads: heads) }
    self.crossValues = bf16CrossCache ? valuesPerHead.map(Attention.bf16Packed) : valuesPerHead
    crossCacheIsBF16 = bf16CrossCache
    self.imageOfRow = imageOfRow
    rows = imageOfRow.count
    slots = max(1, imageOfRow.count)
    self.encoderLength = encoderLength
    self.dim = dim
    self.heads = heads
    self.capacity = max(1, capacity)
    ancestry = Array(repeating: [], count: imageOfRow.count)
    selfKeys = crossKeys.map { _ in Tensor(zeros: [max(1, capacity), max(1, imageOfRow.count), dim]) }
    selfValues = selfKeys.map { Tensor(zeros: $0.shape) }
  }

  /// keys [images, S, d] -> [images, heads, hd, paddedS] with zero columns S..<paddedS.
  static func transposedPerHead(_ keys: Tensor, keyLength s: Int, dim: Int, heads: Int) -> Tensor {
    let images = keys.count / max(1, s * dim), hd = dim / heads, padded = Attention.paddedLength(s)
    let out = Tensor(zeros: [images, heads, hd, padded])
    Threads.parallelFor(images * heads) { ih in
      let image = ih / heads, h = ih % heads
      let source = keys.data + image * s * dim + h * hd, target = out.data + ih * hd * padded
      for p in 0..<s {
        for c in 0..<hd { target[c * padded + p] = source[p * dim + c] }
      }
    }
    return out
  }

  /// values [images, S, d] -> [images, heads, S, hd].
  static func perHead(_ values: Tensor, keyLength s: Int, dim: Int, heads: Int) -> Tensor {
    let images = values.count / max(1, s * dim), hd = dim / heads
    let out = Tensor(uninitialized: [images, heads, s, hd])
    Threads.parallelFor(images * heads) { ih in
      let source = values.data + (ih / heads) * s * dim + (ih % heads) * hd, target = out.data + ih * s * hd
      for p in 0..<s { (target + p * hd).update(from: source + p * dim, count: hd) }
    }
    return out
  }

  /// Beam search: new row i continues old row `sources[i]` (its cached keys/values and its image). The
  /// number of rows may shrink (finished sequences dropped) but not grow past the rows of the start.
  public mutating func reorder(_ sources: [Int]) throws {
    guard sources.allSatisfy({ $0 >= 0 && $0 < rows }), sources.count <= slots else {
      throw ModelError(
        file: "decoder state", "reorder rows \(sources) outside rows 0 to \(rows - 1) (or more than \(slots))")
    }
    ancestry = sources.map { ancestry[$0] }
    imageOfRow = sources.map { imageOfRow[$0] }
    rows = sources.count
  }

  /// Before a step at position `length`: row r's new key/value goes to slot r; fixes `selfOffsets`.
  mutating func beginStep() {
    if length >= capacity { grow() }
    let n = length + 1
    selfOffsets = Array(repeating: 0, count: rows * n)
    for r in 0..<rows {
      ancestry[r].append(Int32(r))
      for p in 0..<n { selfOffsets[r * n + p] = (p * slots + Int(ancestry[r][p])) * dim }
    }
  }

  /// Writes the new position's keys/values [rows, d] of layer l (after `beginStep`).
  mutating func append(layer l: Int, keys: Tensor, values: Tensor) {
    let base = length * slots * dim
    (selfKeys[l].data + base).update(from: keys.data, count: rows * dim)
    (selfValues[l].data + base).update(from: values.data, count: rows * dim)
  }

  private mutating func grow() {
    let newCapacity = capacity * 2
    func widen(_ t: Tensor) -> Tensor {
      let out = Tensor(zeros: [newCapacity, slots, dim])
      out.data.update(from: t.data, count: length * slots * dim)
      return out
    }
    selfKeys = selfKeys.map(widen)
    selfValues = selfValues.map(widen)
    capacity = newCapacity
  }
}
