// Contiguous fp32 tensors. A `Tensor` is a shape plus a pointer into a reference-counted buffer, so
// reshapes and leading-dimension slices are free views; anything that would need strides (permute)
// makes a contiguous copy. Kernels take raw pointers and sizes (llm.c style); `Tensor` is the
// bookkeeping around them.

import Foundation

/// Owned, 64-byte aligned fp32 memory. Freed when the last `Tensor` viewing it goes away; large buffers
/// go back to a pool instead, so the next forward pass gets warm pages (a fresh 56 MB buffer costs
/// ~40 ms of page faults and kernel zeroing, a pooled one ~5 ms of memset).
public final class TensorBuffer: @unchecked Sendable {
  public let base: UnsafeMutablePointer<Float>
  public let capacity: Int
  private let allocated: Int  // floats actually allocated (≥ capacity when reused from the pool); 0 if borrowed
  private let onFree: (() -> Void)?

  /// Zero-filled buffer of `capacity` floats.
  public init(capacity: Int) {
    let count = max(capacity, 1)
    if let (pooled, size) = BufferPool.take(count) {
      base = pooled
      allocated = size
      Elementwise.fill(base, 0, count: count)
    } else {
      let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
      raw.initializeMemory(as: Float.self, repeating: 0, count: count)
      base = raw.assumingMemoryBound(to: Float.self)
      allocated = count
    }
    self.capacity = capacity
    onFree = nil
  }

  /// Wraps memory owned elsewhere (an mmap'ed file, an arena). `onFree` runs at deinit.
  public init(borrowing pointer: UnsafeMutablePointer<Float>, capacity: Int, onFree: (() -> Void)? = nil) {
    base = pointer
    self.capacity = capacity
    allocated = 0
    self.onFree = onFree
  }

  deinit {
    if allocated > 0 && !BufferPool.give(base, allocated) { UnsafeMutableRawPointer(base).deallocate() }
    onFree?()
  }

  /// Most bytes of freed large buffers kept for reuse (0 disables the pool).
  public static var poolLimitBytes: Int {
    get { BufferPool.limitBytes }
    set { BufferPool.setLimit(newValue) }
  }
}

/// Freed large buffers, oldest first. A request takes the smallest one within 25% of its size
/// (activation shapes mostly repeat from one pass to the next; caption lengths vary a little); when the
/// pool is over its limit the oldest buffers are freed.
enum BufferPool {
  static let minFloats = 1 << 16  // 256 KB: below this malloc is fast enough
  private static let lock = NSLock()
  nonisolated(unsafe) private static var free: [(size: Int, pointer: UnsafeMutablePointer<Float>)] = []
  nonisolated(unsafe) private static var heldBytes = 0
  nonisolated(unsafe) static var limitBytes = 1 << 30

  /// A pooled buffer of at least `count` floats and its actual size.
  static func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int)? {
    if count < minFloats { return nil }
    lock.lock()
    defer { lock.unlock() }
    var best: Int? = nil
    for (i, entry) in free.enumerated() where entry.size >= count && entry.size <= count + count / 4 {
      if best == nil || entry.size < free[best!].size { best = i }
    }
    guard let i = best else { return nil }
    let entry = free.remove(at: i)
    heldBytes -= entry.size * 4
    return (entry.pointer, entry.size)
  }

  /// Keeps `p` (`size` floats) for reuse if it is large; false means the caller frees it.
  static func give(_ p: UnsafeMutablePointer<Float>, _ size: Int) -> Bool {
    if size < minFloats || size * 4 > limitBytes { return false }
    lock.lock()
    defer { lock.unlock() }
    free.append((size, p))
    heldBytes += size * 4
    evictOverLimit()
    return true
  }

  static func setLimit(_ bytes: Int) {
    lock.lock()
    defer { lock.unlock() }
    limitBytes = max(0, bytes)
    evictOverLimit()
  }

  /// Frees the oldest buffers until the pool fits its limit (lock held).
  private static func evictOverLimit() {
    while heldBytes > limitBytes, !free.isEmpty {
      let entry = free.removeFirst()
      heldBytes -= entry.size * 4
      UnsafeMutableRawPointer(entry.pointer).deallocate()
    }
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

  public func fill(_ value: Float) { Elementwise.fill(data, value, count: count) }
}
