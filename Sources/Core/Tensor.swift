// Contiguous fp32 tensors. A `Tensor` is a shape plus a pointer into a reference-counted buffer, so
// reshapes and leading-dimension slices are free views; anything that would need strides (permute)
// makes a contiguous copy. Kernels take raw pointers and sizes (llm.c style); `Tensor` is the
// bookkeeping around them.

/// Owned, 64-byte aligned fp32 memory. Freed when the last `Tensor` viewing it goes away.
public final class TensorBuffer: @unchecked Sendable {
  public let base: UnsafeMutablePointer<Float>
  public let capacity: Int
  private let owned: Bool
  private let onFree: (() -> Void)?

  /// Zero-filled buffer of `capacity` floats.
  public init(capacity: Int) {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * 4, alignment: 64)
    raw.initializeMemory(as: Float.self, repeating: 0, count: max(capacity, 1))
    base = raw.assumingMemoryBound(to: Float.self)
    self.capacity = capacity
    owned = true
    onFree = nil
  }

  /// Wraps memory owned elsewhere (an mmap'ed file, an arena). `onFree` runs at deinit.
  public init(borrowing pointer: UnsafeMutablePointer<Float>, capacity: Int, onFree: (() -> Void)? = nil) {
    base = pointer
    self.capacity = capacity
    owned = false
    self.onFree = onFree
  }

  deinit {
    if owned { UnsafeMutableRawPointer(base).deallocate() }
    onFree?()
  }
}

public struct Tensor: @unchecked Sendable {
  public private(set) var shape: [Int]
  public let buffer: TensorBuffer
  public let offset: Int

  public var count: Int { shape.reduce(1, *) }
  public var rank: Int { shape.count }
  /// Pointer to element 0 of this view.
  public var data: UnsafeMutablePointer<Float> { buffer.base + offset }

  /// A new zero-filled tensor.
  public init(zeros shape: [Int]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
    self.shape = shape
    buffer = TensorBuffer(capacity: shape.reduce(1, *))
    offset = 0
  }

  public init(shape: [Int], values: [Float]) {
    precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
    self.init(zeros: shape)
    values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
  }

  public init(shape: [Int], buffer: TensorBuffer, offset: Int = 0) {
    precondition(offset + shape.reduce(1, *) <= buffer.capacity, "view \(shape)+\(offset) past buffer end")
    self.shape = shape
    self.buffer = buffer
    self.offset = offset
  }

  public func dim(_ i: Int) -> Int { shape[i < 0 ? shape.count + i : i] }

  /// Same data, new shape (a free view). One dimension may be -1.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    var s = newShape
    if let i = s.firstIndex(of: -1) {
      let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
      s[i] = known == 0 ? 0 : count / known
    }
    precondition(s.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
    return Tensor(shape: s, buffer: buffer, offset: offset)
  }

  /// Rows `range` of the leading dimension (a free view).
  public func slice(_ range: Range<Int>) -> Tensor {
    precondition(range.lowerBound >= 0 && range.upperBound <= shape[0], "slice \(range) of \(shape)")
    let inner = shape.dropFirst().reduce(1, *)
    return Tensor(shape: [range.count] + shape.dropFirst(), buffer: buffer, offset: offset + range.lowerBound * inner)
  }

  /// Row `i` of the leading dimension, with that dimension dropped (a free view).
  public subscript(index i: Int) -> Tensor {
    slice(i..<(i + 1)).reshaped(Array(shape.dropFirst()))
  }

  /// A contiguous copy.
  public func copy() -> Tensor {
    let t = Tensor(zeros: shape)
    t.data.update(from: data, count: count)
    return t
  }

  public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

  public func fill(_ value: Float) { data.update(repeating: value, count: count) }
}
