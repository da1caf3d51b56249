// Memory for a forward/backward pass without per-op allocation.
//
// `ScratchArena` is a bump allocator for activations: hand out tensors during a pass, `reset()` at the
// start of the next one. `Scratch.withFloats` lends kernel-internal temporaries (im2col columns, partial
// sums) from a small free list, so repeated calls reuse the same pages.
import Foundation

public final class ScratchArena: @unchecked Sendable {
  private var chunks: [TensorBuffer] = []
  private var used = 0  // floats used in the last chunk
  private var total = 0  // floats handed out since reset (incl. earlier chunks)
  public private(set) var highWater = 0

  /// `capacity` floats up front; the arena grows by extra chunks and consolidates them at the next reset.
  public init(capacity: Int = 0) {
    if capacity > 0 { chunks = [TensorBuffer(capacity: capacity, zeroed: false)] }
  }

  /// An uninitialised tensor (contents are whatever the last pass left); valid until `reset()`.
  public func tensor(_ shape: [Int]) -> Tensor {
    let n = shape.reduce(1, *)
    let rounded = (n + 15) & ~15  // keep every tensor 64-byte aligned
    if chunks.isEmpty || used + rounded > chunks[chunks.count - 1].capacity {
      chunks.append(TensorBuffer(capacity: max(rounded, 1 << 20), zeroed: false))
      used = 0
    }
    let t = Tensor(shape: shape, buffer: chunks[chunks.count - 1], offset: used)
    used += rounded
    total += rounded
    highWater = max(highWater, total)
    return t
  }

  /// A zero-filled tensor (gradient buffers that backward passes accumulate into).
  public func zeros(_ shape: [Int]) -> Tensor {
    let t = tensor(shape)
    t.fill(0)
    return t
  }

  /// Makes all memory reusable. Tensors handed out earlier must no longer be used.
  public func reset() {
    if chunks.count > 1 {  // several chunks last time: replace them by one that holds the whole pass
      chunks = [TensorBuffer(capacity: highWater, zeroed: false)]
    }
    used = 0
    total = 0
  }
}

public enum Scratch {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var free: [TensorBuffer] = []

  /// Lends `count` floats (uninitialised) for the duration of `body`. Thread-safe.
  public static func withFloats<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
    let buffer = take(count)
    defer { give(buffer) }
    return try body(buffer.base)
  }

  private static func take(_ count: Int) -> TensorBuffer {
    lock.lock()
    defer { lock.unlock() }
    if let i = free.indices.filter({ free[$0].capacity >= count }).min(by: { free[$0].capacity < free[$1].capacity }) {
      return free.remove(at: i)
    }
    return TensorBuffer(capacity: count, zeroed: false)
  }

  /// Small buffers stay here; large ones go back to the tensor buffer pool (bounded, shared with
  /// activations) when released, rather than staying resident in this list after the pass that needed them.
  private static func give(_ buffer: TensorBuffer) {
    if buffer.capacity >= BufferPool.minFloats { return }
    lock.lock()
    defer { lock.unlock() }
    free.append(buffer)
    if free.count > 8 {  // keep the pool small: drop the smallest buffer
      if let i = free.indices.min(by: { free[$0].capacity < free[$1].capacity }) { free.remove(at: i) }
    }
  }
}
