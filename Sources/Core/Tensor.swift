// Contiguous fp32 tensors. A `Tensor` is a shape plus a pointer into a reference-counted buffer, so
// reshapes and leading-dimension slices are free views; anything that would need strides (permute)
// makes a contiguous copy. Kernels take raw pointers and sizes (llm.c style); `Tensor` is the
// bookkeeping around them.

import Foundation

/// Owned, 64-byte aligned fp32 memory. Freed when the last `Tensor` viewing it goes away; large buffers
/// go back to a pool instead, so the next forward pass gets warm pages of the same size (a fresh 56 MB
/// buffer costs ~40 ms of page faults and kernel zeroing, a pooled one ~5 ms of memset).
public final class TensorBuffer: @unchecked Sendable {
  public let base: UnsafeMutablePointer<Float>
  public let capacity: Int
  private let owned: Bool
  private let onFree: (() -> Void)?

  /// Zero-filled buffer of `capacity` floats.
  public init(capacity: Int) {
    let count = max(capacity, 1)
    if let pooled = BufferPool.take(count) {
      base = pooled
      Elementwise.fill(base, 0, count: count)
    } else {
      let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
      raw.initializeMemory(as: Float.self, repeating: 0, count: count)
      base = raw.assumingMemoryBound(to: Float.self)
    }
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
    if owned && !BufferPool.give(base, max(capacity, 1)) { UnsafeMutableRawPointer(base).deallocate() }
    onFree?()
  }

  /// Most bytes of freed large buffers kept for reuse (0 disables the pool).
  public static var poolLimitBytes: Int {
    get { BufferPool.limitBytes }
    set { BufferPool.setLimit(newValue) }
  }
}

/// Freed large buffers by exact size (activation shapes repeat exactly from one pass to the next).
enum BufferPool {
  static let minFloats = 1 << 16  // 256 KB: below this malloc is fast enough
  private static let lock = NSLock()
  nonisolated(unsafe) private static var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
  nonisolated(unsafe) private static var heldBytes = 0
  nonisolated(unsafe) static var limitBytes = 2 << 30

  static func take(_ count: Int) -> UnsafeMutablePointer<Float>? {
    if count < minFloats { return nil }
    lock.lock()
    defer { lock.unlock() }
    guard let p = free[count]?.popLast() else { return nil }
    heldBytes -= count * 4
    return p
  }

  /// Keeps `p` for reuse if it is large and the pool has room; false means the caller frees it.
  static func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) -> Bool {
    if count < minFloats { return false }
    lock.lock()
    defer { lock.unlock() }
    if heldBytes + count * 4 > limitBytes { return false }
    free[count, default: []].append(p)
    heldBytes += count * 4
    return true
  }

  static func setLimit(_ bytes: Int) {
    lock.lock()
    defer { lock.unlock() }
    limitBytes = max(0, bytes)
    while heldBytes > limitBytes, let (size, list) = free.first(where: { !$0.value.isEmpty }), let p = list.last {
      free[size]!.removeLast()
      heldBytes -= size * 4
      UnsafeMutableRawPointer(p).deallocate()
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
