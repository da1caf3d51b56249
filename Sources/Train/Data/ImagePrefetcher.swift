// Hands out the 768x768 images of one epoch in order while a background thread decodes the non-resident ones
// ahead, up to `depth` images, so the trainer does not wait on JPEG decoding (resident images cost nothing and
// go through the same queue to keep the order). A file that fails to decode comes out as a failure, in its
// place; the caller skips it and counts it. Dropping the prefetcher (or `cancel()`) stops the thread.
//
// The background resize goes through FlrCore's Threads.parallelChunks (inside BicubicResize); those regions
// share the process's one worker pool with the trainer's kernels.
import FlrImage
import Foundation

public final class ImagePrefetcher: @unchecked Sendable {
  public struct Item {
    public let index: Int
    public let image: Result<RGBImage, DatasetError>
  }

  /// The queue the thread fills; the thread holds only this, so dropping the prefetcher can stop it.
  private final class Shared: @unchecked Sendable {
    let order: [Int]
    let images: ResidentImages
    let depth: Int
    let condition = NSCondition()
    var queue: [Item] = []  // all vars guarded by condition
    var produced = 0
    var cancelled = false

    init(order: [Int], images: ResidentImages, depth: Int) {
      self.order = order
      self.images = images
      self.depth = depth
    }

    func produce() {
      for index in order {
        condition.lock()
        while queue.count >= depth && !cancelled { condition.wait() }
        let stop = cancelled
        condition.unlock()
        if stop { return }
        let result: Result<RGBImage, DatasetError>
        do { result = .success(try images.image(index)) } catch let error as DatasetError {
          result = .failure(error)
        } catch {
          result = .failure(DatasetError(file: images.files[index].path, problem: "\(error)"))
        }
        condition.lock()
        queue.append(Item(index: index, image: result))
        produced += 1
        condition.broadcast()
        condition.unlock()
      }
    }
  }

  private let shared: Shared

  /// How often, and for how long in total, `next()` had to wait for the background thread.
  public private(set) var waits = 0
  public private(set) var waitSeconds = 0.0

  /// `order`: dataset indices in the order they will be taken.
  public init(order: [Int], images: ResidentImages, depth: Int = 4) {
    let shared = Shared(order: order, images: images, depth: max(1, depth))
    self.shared = shared
    let thread = Thread { shared.produce() }
    thread.name = "flr-prefetch"
    thread.start()
  }

  deinit { cancel() }

  /// The next image in order, nil after the last one (or after `cancel()` once the queue is empty).
  public func next() -> Item? {
    let s = shared
    s.condition.lock()
    defer { s.condition.unlock() }
    if s.queue.isEmpty && s.produced < s.order.count && !s.cancelled {
      let start = DispatchTime.now().uptimeNanoseconds
      while s.queue.isEmpty && s.produced < s.order.count && !s.cancelled { s.condition.wait() }
      waits += 1
      waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }
    guard !s.queue.isEmpty else { return nil }
    let item = s.queue.removeFirst()
    s.condition.broadcast()
    return item
  }

  /// Stops the background thread at its next image.
  public func cancel() {
    shared.condition.lock()
    shared.cancelled = true
    shared.condition.broadcast()
    shared.condition.unlock()
  }
}
