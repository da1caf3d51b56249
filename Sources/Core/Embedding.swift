// Token embedding lookup. Ids must be in 0..<vocab (the tokenizer guarantees it; `validate` checks
// ids that come from elsewhere).

public struct EmbeddingError: Error, CustomStringConvertible {
  public let description: String
}

public enum Embedding {
  /// out [count, dim] = table [V, dim] rows ids [count]
  public static func forward(
    out: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count: Int, dim: Int
  ) {
    let scope = Profile.begin(.embedding, .forward, bytes: 8 * (count * dim))
    defer { Profile.end(scope) }
    for i in 0..<count { (out + i * dim).update(from: table + Int(ids[i]) * dim, count: dim) }
  }

  public static func forward(out: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>, ids: [Int32], dim: Int) {
    ids.withUnsafeBufferPointer { forward(out: out, table: table, ids: $0.baseAddress!, count: ids.count, dim: dim) }
  }

  /// dtable [V, dim] rows ids += dout [count, dim] (repeated ids add up)
  public static func backward(
    dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count: Int, dim: Int
  ) {
    let scope = Profile.begin(.embedding, .backward, bytes: 12 * (count * dim))
    defer { Profile.end(scope) }
    for i in 0..<count { Elementwise.addInPlace(dtable + Int(ids[i]) * dim, dout + i * dim, count: dim) }
  }

  public static func backward(dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, ids: [Int32], dim: Int) {
    ids.withUnsafeBufferPointer {
      backward(dtable: dtable, dout: dout, ids: $0.baseAddress!, count: ids.count, dim: dim)
    }
  }

  /// Throws if an id is outside 0..<vocab.
  public static func validate(ids: [Int32], vocab: Int) throws {
    if let bad = ids.first(where: { $0 < 0 || Int($0) >= vocab }) {
      throw EmbeddingError(description: "token id \(bad) is outside the vocabulary (ids 0 to \(vocab - 1))")
    }
  }
}
