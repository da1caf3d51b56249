import FlrCore
import FlrImage
import FlrProcessor
import FlrTokenizer
import XCTest

/// The processor against the parts it is made of, each with its own parity tests (Pillow's resize and
/// normalisation in ImageTests, the tokenizer in TokenizerTests, caption text in GenerateTests). Exact.
final class Florence2ProcessorTests: XCTestCase {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures").standardized

  func testPixelValuesPutEachImageInItsSlot() throws {
    let images = try ["jpeg_noise_77x123.jpg", "synth_5x3.png"].map {
      try ImageDecoder.decode(contentsOf: Self.fixtures.appendingPathComponent("images/\($0)"))
    }
    let one = images.map { values(PixelValues.tensor(from: $0)) }
    XCTAssertNotEqual(one[0], one[1])

    let batch = Florence2Processor.pixelValues(images)
    XCTAssertEqual(batch.shape, [2, 3, 768, 768])
    XCTAssertEqual(values(batch[index: 0]), one[0])
    XCTAssertEqual(values(batch[index: 1]), one[1])

    // Resized bytes one after another (a dataset batch), picked by position, in any order and more than once.
    let bytes = images.flatMap { Florence2Processor.resized($0).pixels }
    let picked = Florence2Processor.pixelValues(resized: bytes, positions: [1, 0, 1])
    XCTAssertEqual(picked.shape, [3, 3, 768, 768])
    XCTAssertEqual([0, 1, 2].map { values(picked[index: $0]) }, [one[1], one[0], one[1]])
  }

  func testPromptIdsAndCaptionText() throws {
    let tokenizer = try BartTokenizer(folder: Self.fixtures.appendingPathComponent("demo-tiny"))
    let processor = Florence2Processor(tokenizer: tokenizer)
    // A task token becomes its question; other text is the prompt itself.
    XCTAssertEqual(
      try processor.promptIds("<CAPTION>"), tokenizer.encode("What does the image describe?").map(Int32.init))
    XCTAssertEqual(try processor.promptIds("a photo of"), tokenizer.encode("a photo of").map(Int32.init))
    // An output row: decoder start, <s>, text, </s>, right padding -> the text alone.
    let text = tokenizer.encode("A cat on a mat.", addSpecialTokens: false).map(Int32.init)
    XCTAssertEqual(processor.caption(ids: [2, 0] + text + [2, 1, 1], task: "<CAPTION>"), "A cat on a mat.")
  }

  private func values(_ tensor: Tensor) -> [Float] {
    Array(UnsafeBufferPointer(start: tensor.data, count: tensor.count))
  }
}
