// The decoder's KV cache for generation (transformers' EncoderDecoderCache: a self-attention cache that
// grows by one position per step, a cross-attention cache computed once per image). Rows are the sequences
// being decoded (images × beams); `reorder` is beam search's `_reorder_cache`.
import FlrCore

public struct DecoderState {
  /// Sequences decoded together; row r belongs to image `imageOfRow[r]`.
  public private(set) var rows: Int
  public internal(set) var imageOfRow: [Int]
  /// Tokens already fed per row (the position of the next token).
  public internal(set) var length = 0
  /// S: encoder tokens per image.
  public let encoderLength: Int
  let dim: Int
  /// Per layer [images, S, d]: shared by all rows of an image, never copied per beam.
  let crossKeys: [Tensor], crossValues: [Tensor]
  /// Per layer [rows, capacity, d]: positions 0..<length are filled.
  var selfKeys: [Tensor], selfValues: [Tensor]
  var capacity: Int

  init(crossKeys: [Tensor], crossValues: [Tensor], imageOfRow: [Int], encoderLength: Int, dim: Int, capacity: Int) {
    self.crossKeys = crossKeys
    self.crossValues = crossValues
    self.imageOfRow = imageOfRow
    rows = imageOfRow.count
    self.encoderLength = encoderLength
    self.dim = dim
    self.capacity = max(1, capacity)
    selfKeys = crossKeys.map { _ in Tensor(zeros: [imageOfRow.count, max(1, capacity), dim]) }
    selfValues = selfKeys.map { Tensor(zeros: $0.shape) }
  }

  /// Beam search: new row i continues old row `sources[i]` (its cached keys/values and its image). The
  /// number of rows may change (e.g. finished sequences dropped).
  public mutating func reorder(_ sources: [Int]) throws {
    guard sources.allSatisfy({ $0 >= 0 && $0 < rows }) else {
      throw ModelError(file: "decoder state", "reorder rows \(sources) outside 0..<\(rows)")
    }
    let n = sources.count, rowFloats = capacity * dim, used = length * dim
    func gather(_ t: Tensor) -> Tensor {
      let out = Tensor(zeros: [n, capacity, dim])
      for (i, s) in sources.enumerated() { (out.data + i * rowFloats).update(from: t.data + s * rowFloats, count: used) }
      return out
    }
    selfKeys = selfKeys.map(gather)
    selfValues = selfValues.map(gather)
    imageOfRow = sources.map { imageOfRow[$0] }
    rows = n
  }

  /// Writes the new position's keys/values [rows, d] of layer l, growing the cache when full.
  mutating func append(layer l: Int, keys: Tensor, values: Tensor) {
    if length >= capacity { grow() }
    for r in 0..<rows {
      (selfKeys[l].data + (r * capacity + length) * dim).update(from: keys.data + r * dim, count: dim)
      (selfValues[l].data + (r * capacity + length) * dim).update(from: values.data + r * dim, count: dim)
    }
  }

  private mutating func grow() {
    let newCapacity = capacity * 2
    func widen(_ t: Tensor) -> Tensor {
      let out = Tensor(zeros: [rows, newCapacity, dim])
      for r in 0..<rows { (out.data + r * newCapacity * dim).update(from: t.data + r * capacity * dim, count: length * dim) }
      return out
    }
    selfKeys = selfKeys.map(widen)
    selfValues = selfValues.map(widen)
    capacity = newCapacity
  }
}
