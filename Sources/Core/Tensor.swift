// Contiguous fp32 tensors. A `Tensor` is a shape plus a pointer into a reference-counted buffer, so
// reshapes and leading-dimension slices are free views; anything that would need strides (permute)
// makes a contiguous copy. Kernels take raw pointers and sizes (llm.c style); `Tensor` is the
// bookkeeping around them.

import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Owned, 64-byte aligned fp32 memory. Freed when the last `Tensor` viewing it goes away; large buffers
/// go back to a pool instead, so the next forward pass gets warm pages (a fresh 56 MB buffer costs
/// ~40 ms of page faults and kernel zeroing, a pooled one ~5 ms of memset).
public final class TensorBuffer: @unchecked Sendable {
  public let base: UnsafeMutablePointer<Float>
  public let capacity: Int
  private let allocated: Int  // floats actually allocated (≥ capacity when reused from the pool); 0 if borrowed
  private let onFree: (() -> Void)?

  /// Zero-filled buffer of `capacity` floats.
  public convenience init(capacity: Int) { self.init(capacity: capacity, zeroed: true) }

  /// `zeroed: false`: contents undefined (a pooled buffer holds what its last user wrote), for outputs every
  /// element of which the caller overwrites; skips a full write pass over memory.
  public init(capacity: Int, zeroed: Bool) {
    let count = max(capacity, 1)
    let scope = Profile.begin(.allocation, bytes: zeroed ? 4 * count : 0)
    defer { Profile.end(scope) }
    if let (pooled, size) = BufferPool.take(count) {
      base = pooled
      allocated = size
      if zeroed { Elementwise.fill(base, 0, count: count) }
    } else {
      base = BufferPool.allocate(count)  // zero-filled
      allocated = BufferPool.mappedSize(count)
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
    if allocated > 0 && !BufferPool.give(base, allocated) { BufferPool.deallocate(base, allocated) }
    onFree?()
  }

  /// Most bytes of freed large buffers kept for reuse (0 disables the pool).
  public static var poolLimitBytes: Int {
    get { BufferPool.limitBytes }
    set { BufferPool.setLimit(newValue) }
  }

  /// Bytes of freed buffers the pool holds now.
  public static var pooledBytes: Int { BufferPool.held }

  /// Bytes of large buffers (each its own mapping) mapped now, in use or pooled.
  public static var mappedBytes: Int { BufferPool.mappedNow }

  /// Bytes of large buffers mapped fresh since the process started (a request the pool could not serve). A pass
  /// that maps nothing new reuses warm pages: no page faults, no kernel zeroing.
  public static var freshlyMappedBytes: Int { BufferPool.mappedEver }

  /// Gives pooled buffers back to the system until at most `keepingBytes` stay (oldest first), so an idle
  /// process does not hold the last pass's working set. The limit is unchanged: later passes refill the pool.
  public static func trimPool(keepingBytes: Int = 0) { BufferPool.trim(to: keepingBytes) }
}

/// Freed large buffers, oldest first. A request takes the smallest one that holds it; the rest of a larger one
/// stays pooled as a buffer of its own, and a buffer coming back is joined with pooled neighbours in the address
/// space (all of them pages of this pool's mappings), so a training step's requests, the same from step to step,
/// are served from the last step's pages: nothing is mapped fresh once the pool holds a step's working set. When
/// the pool is over its limit the oldest buffers are freed.
enum BufferPool {
  static let minFloats = 1 << 16  // 256 KB: below this malloc is fast enough
  private static let lock = NSLock()
  nonisolated(unsafe) private static var free: [(size: Int, pointer: UnsafeMutablePointer<Float>)] = []
  nonisolated(unsafe) private static var heldBytes = 0
  /// A LoRA step on base with checkpointing=none cycles about 1.7 GB of activations per image through the pool
  /// (a batch of 4, about 6.7 GB): half the machine's memory, at least 4 GiB, so a batch's step keeps its pages
  /// from step to step instead of mapping (faulting and zeroing) gigabytes afresh. The pool only holds buffers a
  /// pass gave back, and an idle process empties it.
  nonisolated(unsafe) static var limitBytes = defaultLimitBytes
  static let defaultLimitBytes = max(4 << 30, Int(ProcessInfo.processInfo.physicalMemory / 2))

  /// Large buffers are their own anonymous mappings: fresh pages are zero (no fill pass), and a freed one the
  /// pool does not keep goes back to the system at once. Through malloc they stayed in glibc's heap after
  /// free (its mmap threshold rises with each large free), resident but unusable by other sizes, and a
  /// training step's peak RSS grew by those fragments.
  static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
    #if canImport(Glibc)
      if count >= minFloats {
        let bytes = mappedSize(count) * 4
        countMapping(bytes)
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { fatalError("out of memory: \(bytes) bytes for a tensor") }
        // Transparent huge pages where the system allows them on request: a 2 MB fault instead of 512
        // small ones (a fresh 75 MB activation took ~50 ms of page faults).
        if bytes >= 4 << 20 { madvise(p, bytes, MADV_HUGEPAGE) }
        return p.assumingMemoryBound(to: Float.self)
      }
    #endif
    let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
    raw.initializeMemory(as: Float.self, repeating: 0, count: count)
    return raw.assumingMemoryBound(to: Float.self)
  }

  /// Frees what `allocate(count)` returned.
  static func deallocate(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
    #if canImport(Glibc)
      if count >= minFloats {
        munmap(p, count * 4)
        countMapping(-count * 4)
        return
      }
    #endif
    UnsafeMutableRawPointer(p).deallocate()
  }

  static var held: Int {
    lock.lock()
    defer { lock.unlock() }
    return heldBytes
  }

  // Mapping statistics, under their own lock (`allocate` and `deallocate` run with and without `lock` held).
  private static let statsLock = NSLock()
  nonisolated(unsafe) private static var mappedBytes = 0
  nonisolated(unsafe) private static var freshBytes = 0

  private static func countMapping(_ bytes: Int) {
    statsLock.lock()
    defer { statsLock.unlock() }
    mappedBytes += bytes
    if bytes > 0 { freshBytes += bytes }
  }

  static var mappedNow: Int {
    statsLock.lock()
    defer { statsLock.unlock() }
    return mappedBytes
  }

  static var mappedEver: Int {
    statsLock.lock()
    defer { statsLock.unlock() }
    return freshBytes
  }

  /// A pooled buffer of at least `count` floats and its actual size.
  static func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int)? {
    if count < minFloats { return nil }
    lock.lock()
    defer { lock.unlock() }
    var best: Int? = nil
    for (i, entry) in free.enumerated() where entry.size >= count && (canSplit || entry.size <= count + count / 4) {
      if best == nil || entry.size < free[best!].size { best = i }
    }
    guard let i = best else { return nil }
    let entry = free[i]
    let keep = mappedSize(count)
    if canSplit && entry.size - keep >= minFloats {  // the rest stays pooled, in the entry's place (its age)
      free[i] = (entry.size - keep, entry.pointer + keep)
      heldBytes -= keep * 4
      return (entry.pointer, keep)
    }
    free.remove(at: i)
    heldBytes -= entry.size * 4
    return (entry.pointer, entry.size)
  }

  #if canImport(Glibc)
    /// Pooled buffers are whole pages of mappings: any page range of them can be handed out or unmapped alone.
    static let canSplit = true
    static let pageFloats = max(1024, sysconf(Int32(_SC_PAGESIZE)) / 4)
  #else
    static let canSplit = false
    static let pageFloats = 1
  #endif

  /// The floats `allocate(count)` maps: whole pages for a large buffer.
  static func mappedSize(_ count: Int) -> Int {
    count >= minFloats && canSplit ? (count + pageFloats - 1) / pageFloats * pageFloats : count
  }

  /// Keeps `p` (`size` floats) for reuse if it is large; false means the caller frees it.
  static func give(_ p: UnsafeMutablePointer<Float>, _ size: Int) -> Bool {
    if size < minFloats || size * 4 > limitBytes { return false }
    lock.lock()
    defer { lock.unlock() }
    heldBytes += size * 4
    var (p, size) = (p, size)
    if canSplit {  // join pooled neighbours: one range, reusable for larger requests
      if let j = free.firstIndex(where: { $0.pointer == p + size }) {
        size += free.remove(at: j).size
      }
      if let j = free.firstIndex(where: { $0.pointer + $0.size == p }) {
        let before = free.remove(at: j)
        (p, size) = (before.pointer, before.size + size)
      }
    }
    free.append((size, p))
    evictOverLimit()
    lastGive = DispatchTime.now().uptimeNanoseconds
    if !idleTrimScheduled && idleTrimSeconds > 0 {
      idleTrimScheduled = true
      scheduleIdleTrim(after: idleTrimSeconds)
    }
    return true
  }

  /// An idle process gives its pool back: `idleTrimSeconds` after the last buffer came back (a forward pass,
  /// a generate, a training run ended), the pool is emptied. A loaded model waiting at the prompt then holds
  /// its weights, not its last pass's activations. Passes in progress keep giving and taking, so they never
  /// see it. 0 disables.
  nonisolated(unsafe) static var idleTrimSeconds: Double = 2
  nonisolated(unsafe) private static var lastGive: UInt64 = 0
  nonisolated(unsafe) private static var idleTrimScheduled = false

  private static func scheduleIdleTrim(after seconds: Double) {
    DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + seconds) {
      lock.lock()
      defer { lock.unlock() }
      let idle = Double(DispatchTime.now().uptimeNanoseconds &- lastGive) / 1e9
      if idleTrimSeconds <= 0 {
        idleTrimScheduled = false
      } else if idle >= idleTrimSeconds {
        evict(downTo: 0)
        idleTrimScheduled = false
      } else {
        scheduleIdleTrim(after: idleTrimSeconds - idle)
      }
    }
  }

  static func setLimit(_ bytes: Int) {
    lock.lock()
    defer { lock.unlock() }
    limitBytes = max(0, bytes)
    evictOverLimit()
  }

  static func trim(to bytes: Int) {
    lock.lock()
    defer { lock.unlock() }
    evict(downTo: max(0, bytes))
  }

  /// Frees the oldest buffers until the pool fits its limit (lock held).
  private static func evictOverLimit() { evict(downTo: limitBytes) }

  private static func evict(downTo bytes: Int) {
    while heldBytes > bytes, !free.isEmpty {
      let entry = free.removeFirst()
      heldBytes -= entry.size * 4
      deallocate(entry.pointer, entry.size)
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

  /// A new tensor whose contents are undefined: for outputs the caller overwrites element by element (never
  /// for a kernel that accumulates with +=).
  public init(uninitialized shape: [Int]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
    self.shape = shape
    buffer = TensorBuffer(capacity: shape.reduce(1, *), zeroed: false)
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
    let t = Tensor(uninitialized: shape)
    t.data.update(from: data, count: count)
    return t
  }

  public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

  public func fill(_ value: Float) { Elementwise.fill(data, value, count: count) }
}
