// EpochBatches and ImagePrefetcher: order and augmentation from (seed, epoch), batches of pixels + labels,
// resume by skipping batches, an image that breaks mid-epoch skipped and counted.
import FlrImage
import XCTest

@testable import FlrTrain

final class DataEpochTests: XCTestCase {
  func makeDataset(_ t: TempFolder, budgetImages: Int) throws -> CaptionDataset {
    let sources = ["synth_5x3.png", "synth_1x1.png", "png_gray1.png", "synth_extremes_200x300.png", "png_gray2.png"]
    for (i, name) in sources.enumerated() {
      try t.image("img\(i).png", from: name)
      try t.text("img\(i).txt", "image \(i), part a, part b, part c")
    }
    var options = DatasetOptions()
    options.memoryBudget = budgetImages * ResidentImages.bytesPerImage
    return try CaptionDataset(at: t.url, options: options)
  }

  func testBatchesCoverTheEpochWithLabels() throws {
    let t = try TempFolder()
    let data = try makeDataset(t, budgetImages: 2)  // 3 of 5 decoded by the prefetch thread
    let tok = DataFixtures.tokenizer
    let augmentation = CaptionAugmentation(shuffle: true, frozenParts: 1, dropout: 0.2)
    let epoch = EpochBatches(
      dataset: data, epoch: 1, seed: 9, batchSize: 2, tokenizer: tok, augmentation: augmentation,
      maxLength: 6)
    XCTAssertEqual(epoch.batchCount, 3)
    let batches = Array(epoch)
    XCTAssertEqual(batches.map(\.count), [2, 2, 1])
    XCTAssertEqual(batches.flatMap(\.indices), epoch.order)
    XCTAssertEqual(Set(epoch.order), Set(0..<5))
    XCTAssertEqual(epoch.failures, [])

    // Captions: the dataset's captions through the augmentation with PythonRandom(seed 9, stream 1), in order.
    var rng = PythonRandom(seed: 9, stream: 1)
    let expected = epoch.order.map { augmentation.apply(data.items[$0].caption, rng: &rng) }
    XCTAssertEqual(batches.flatMap(\.captions), expected)
    for batch in batches {
      XCTAssertEqual(batch.pixels.count, batch.count * 768 * 768 * 3)
      for (b, index) in batch.indices.enumerated() {
        let image = batch.pixels[(b * ResidentImages.bytesPerImage)..<((b + 1) * ResidentImages.bytesPerImage)]
        XCTAssertEqual(Array(image), try data.images.image(index).pixels)
      }
      let made = CaptionLabels.make(batch.captions.map { tok.encode($0, maxLength: 6) })
      XCTAssertEqual(batch.labels, made.labels)
      XCTAssertEqual(batch.decoderInputIds, made.decoderInputIds)
      XCTAssertLessThanOrEqual(batch.length, 6)
    }

    // Same (seed, epoch): same order and captions; resuming after one batch gives the rest.
    let again = EpochBatches(
      dataset: data, epoch: 1, seed: 9, batchSize: 2, tokenizer: tok, augmentation: augmentation,
      maxLength: 6)
    again.skip(batches: 1)
    XCTAssertEqual(Array(again).flatMap(\.captions), Array(expected.dropFirst(2)))
    let otherEpoch = EpochBatches(dataset: data, epoch: 2, seed: 9, batchSize: 2, tokenizer: tok)
    let orders = Set(
      (0..<6).map { EpochBatches(dataset: data, epoch: $0, seed: 9, batchSize: 2, tokenizer: tok).order })
    XCTAssertGreaterThan(orders.count, 1, "epochs should not all share one order")
    XCTAssertEqual(Set(otherEpoch.order), Set(0..<5))
  }

  func testImageFailingMidEpochIsSkippedAndCounted() throws {
    let t = try TempFolder()
    let data = try makeDataset(t, budgetImages: 0)  // nothing resident: every image is read during the epoch
    // Break img3 after loading.
    try Data([0x89, 0x50, 0x4E, 0x47]).write(to: t.url.appendingPathComponent("img3.png"))
    let epoch = EpochBatches(
      dataset: data, epoch: 0, seed: 1, batchSize: 2, tokenizer: DataFixtures.tokenizer,
      shuffle: false)
    let batches = Array(epoch)
    XCTAssertEqual(batches.flatMap(\.indices), [0, 1, 2, 4])
    XCTAssertEqual(batches.map(\.count), [2, 2])
    XCTAssertEqual(epoch.failures.map(\.file), ["img3.png"])
    XCTAssertEqual(epoch.failures.map(\.kind), ["unreadable"])
  }

  func testPrefetcherStopsWhenDropped() throws {
    let t = try TempFolder()
    let data = try makeDataset(t, budgetImages: 0)
    var prefetcher: ImagePrefetcher? = ImagePrefetcher(
      order: Array(repeating: 3, count: 50), images: data.images, depth: 2)
    XCTAssertEqual(prefetcher?.next()?.index, 3)
    weak let weakRef = prefetcher
    prefetcher = nil
    XCTAssertNil(weakRef)
    let cancelled = ImagePrefetcher(order: [0, 1, 2, 3], images: data.images, depth: 1)
    cancelled.cancel()
    var seen = 0
    while cancelled.next() != nil { seen += 1 }
    XCTAssertLessThanOrEqual(seen, 2)  // at most what was queued (depth 1) plus one in flight
  }
}
