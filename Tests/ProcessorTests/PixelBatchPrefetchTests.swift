import FlrCore
import FlrImage
import FlrProcessor
import Foundation
import XCTest

/// The prefetch thread of the caption and features commands: batches come in path order with the pixel values the processor gives
/// the same images, files that do not decode come with their paths, the thread never runs more than its queue
/// ahead of the caller, and `stop` ends it mid-run.
final class PixelBatchPrefetchTests: XCTestCase {
  static let images = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/images").standardized.path

  func testBatchesInOrderWithFailuresNamed() throws {
    let names = ["synth_5x3.png", "bad_truncated.jpg", "jpeg_noise_77x123.jpg", "synth_1x1.png", "bad_empty.png"]
    let paths = names.map { Self.images + "/" + $0 }
    let prefetch = PixelBatchPrefetch(paths: paths, batchSize: 2)
    defer { prefetch.stop() }
    var batches: [PixelBatchPrefetch.Batch] = []
    while let batch = prefetch.next() { batches.append(batch) }

    XCTAssertEqual(batches.map(\.start), [0, 2, 4])
    XCTAssertEqual(batches.map { Array($0.paths) }, [Array(paths[0..<2]), Array(paths[2..<4]), [paths[4]]])
    XCTAssertEqual(batches.map(\.decoded), [[paths[0]], [paths[2], paths[3]], []])
    XCTAssertEqual(batches.map { $0.failures.map(\.path) }, [[paths[1]], [], [paths[4]]])
    XCTAssertNil(batches[2].pixelValues)
    for batch in batches where !batch.decoded.isEmpty {
      let expected = Florence2Processor.pixelValues(
        try batch.decoded.map { try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0)) })
      let got = try XCTUnwrap(batch.pixelValues)
      XCTAssertEqual(got.shape, expected.shape)
      XCTAssertEqual(got.toArray(), expected.toArray())
    }
    XCTAssertNil(prefetch.next())
  }

  /// A caller slower than the images: the thread stops `depth` batches ahead (plus the one it is preparing).
  func testQueueIsBounded() {
    let counter = DecodeCounter()
    let image = RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 7, count: 12))
    let paths = (0..<24).map { "image-\($0)" }
    let prefetch = PixelBatchPrefetch(paths: paths, batchSize: 2, depth: 1) { _ in
      counter.decoded()
      return image
    }
    defer { prefetch.stop() }
    var taken = 0
    while let batch = prefetch.next() {
      taken += batch.paths.count
      counter.took(taken)
      Thread.sleep(forTimeInterval: 0.01)  // a slow model: an unbounded thread would decode everything by now
    }
    XCTAssertEqual(taken, 24)
    // Taken batch + 1 queued + 1 being prepared.
    XCTAssertLessThanOrEqual(counter.mostAhead, 2 * 2)
  }

  func testStopEndsTheThreadMidRun() {
    let counter = DecodeCounter()
    let image = RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 7, count: 12))
    let prefetch = PixelBatchPrefetch(paths: (0..<100).map { "image-\($0)" }, batchSize: 1, depth: 2) { _ in
      counter.decoded()
      return image
    }
    XCTAssertNotNil(prefetch.next())
    prefetch.stop()
    XCTAssertNil(prefetch.next(), "98 images were left, none is handed out after stop")
    XCTAssertLessThanOrEqual(counter.count, 4, "the taken batch, 2 queued, 1 being prepared when stop came")
    prefetch.stop()  // again: returns at once
  }
}

/// Decodes done by the prefetch thread against images taken by the caller (thread-safe).
private final class DecodeCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var decodes = 0, taken = 0
  private(set) var mostAhead = 0

  func decoded() {
    lock.lock()
    decodes += 1
    mostAhead = max(mostAhead, decodes - taken)
    lock.unlock()
  }

  func took(_ count: Int) {
    lock.lock()
    taken = count
    lock.unlock()
  }

  var count: Int {
    lock.lock()
    defer { lock.unlock() }
    return decodes
  }
}
