// Pixel values of a folder run, prepared a batch ahead on a thread of their own: while the model captions batch k,
// the images of batch k+1 are decoded, resized and normalised, so the model waits for image files only at the
// first batch. The queue is bounded (`depth` prepared batches), so memory stays a few batches whatever the folder.
// The preparing thread runs its loops serially: the cores stay the model's, and only the work moves.
import FlrCore
import FlrImage
import Foundation

public final class PixelBatchPrefetch: @unchecked Sendable {
  /// One batch of the path list, prepared: the images that decoded, in order, their pixel values, and the files
  /// that did not decode with their errors (the caller reports them, in order, when it takes the batch).
  public struct Batch: @unchecked Sendable {
    /// Where the batch's first path is in the whole list.
    public var start: Int
    /// The paths of the batch, decoded or not (`count` is what progress advances by).
    public var paths: ArraySlice<String>
    /// The paths that decoded, in order: the rows of `pixelValues`.
    public var decoded: [String]
    public var failures: [(path: String, error: Error)]
    /// [decoded.count, 3, 768, 768]; nil when no image of the batch decoded.
    public var pixelValues: Tensor?
    /// Seconds the preparing thread spent on this batch.
    public var seconds: Double
  }

  private let condition = NSCondition()
  private var ready: [Batch] = []
  private var stopped = false
  private var finished = false
  private var waited = 0.0
  private var prepared = 0.0

  /// Starts preparing batches of `batchSize` paths at once, at most `depth` ahead of the caller. `decode`
  /// reads one image file (ImageDecoder by default).
  public init(
    paths: [String], batchSize: Int, depth: Int = 2,
    decode: @escaping @Sendable (String) throws -> RGBImage = {
      try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0))
    }
  ) {
    let size = max(1, batchSize), depth = max(1, depth)
    let thread = Thread { [self] in
      Threads.serially {
        for start in stride(from: 0, to: paths.count, by: size) {
          condition.lock()
          while ready.count >= depth && !stopped { condition.wait() }
          let stop = stopped
          condition.unlock()
          if stop { break }
          let batch = Self.prepare(paths[start..<min(start + size, paths.count)], start: start, decode: decode)
          condition.lock()
          ready.append(batch)
          prepared += batch.seconds
          condition.broadcast()
          condition.unlock()
        }
      }
      condition.lock()
      finished = true
      condition.broadcast()
      condition.unlock()
    }
    thread.name = "flr image prefetch"
    thread.start()
  }

  deinit { stop() }

  /// The next batch in path order, waiting for it if it is not ready; nil after the last one (or after `stop`).
  public func next() -> Batch? {
    let begin = Date()
    condition.lock()
    defer { condition.unlock() }
    while ready.isEmpty && !finished && !stopped { condition.wait() }
    waited += Date().timeIntervalSince(begin)
    if stopped || ready.isEmpty { return nil }
    condition.broadcast()  // a place in the queue is free
    return ready.removeFirst()
  }

  /// Stops preparing (the image being read is finished first) and waits until the thread has ended, so nothing
  /// of the run goes on behind the caller's back. Called again, or after the end, it returns at once.
  public func stop() {
    condition.lock()
    stopped = true
    condition.broadcast()
    while !finished { condition.wait() }
    condition.unlock()
  }

  /// Seconds the caller spent waiting in `next()` (the preparation it did not hide) and seconds the preparing
  /// thread worked, so far.
  public var seconds: (waited: Double, prepared: Double) {
    condition.lock()
    defer { condition.unlock() }
    return (waited, prepared)
  }

  static func prepare(
    _ paths: ArraySlice<String>, start: Int, decode: (String) throws -> RGBImage
  ) -> Batch {
    let begin = Date()
    var images: [RGBImage] = [], decoded: [String] = [], failures: [(path: String, error: Error)] = []
    for path in paths {
      do {
        images.append(try decode(path))
        decoded.append(path)
      } catch {
        failures.append((path, error))
      }
    }
    let pixelValues = images.isEmpty ? nil : Florence2Processor.pixelValues(images)
    return Batch(
      start: start, paths: paths, decoded: decoded, failures: failures, pixelValues: pixelValues,
      seconds: Date().timeIntervalSince(begin))
  }
}
