// Labels and decoder inputs against transformers (labels.json): BartTokenizerFast with padding="longest",
// truncation, pads -> -100, modeling_bart.shift_tokens_right(labels, 1, 2). Exact integers.
import XCTest

@testable import FlrTrain

final class DataLabelsTests: XCTestCase {
  func testLabelsMatchTransformers() throws {
    let cases = try XCTUnwrap(try DataFixtures.json("labels.json")["cases"] as? [[String: Any]])
    XCTAssertEqual(cases.count, 9)
    for c in cases {
      let captions = try XCTUnwrap(c["captions"] as? [String])
      let maxLength = try XCTUnwrap(c["max_length"] as? Int)
      let shape = try XCTUnwrap(c["shape"] as? [Int])
      let ids = captions.map { DataFixtures.tokenizer.encode($0, maxLength: maxLength) }
      let made = CaptionLabels.make(ids, decoderStart: 2, pad: 1)
      XCTAssertEqual([captions.count, made.length], shape, "\(captions) max_length \(maxLength)")
      XCTAssertEqual(made.labels.map(Int.init), try XCTUnwrap(c["labels"] as? [Int]), "\(captions) \(maxLength)")
      XCTAssertEqual(
        made.decoderInputIds.map(Int.init), try XCTUnwrap(c["decoder_input_ids"] as? [Int]), "\(captions) \(maxLength)")
    }
  }
}
