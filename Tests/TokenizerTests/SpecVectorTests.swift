// The test vectors of SPEC.md §5.3 and §4.3 (verified there with the `tokenizers` library on the real
// tokenizer.json + the Florence tokens). Exact equality: token ids and texts have no tolerance.
import XCTest

@testable import FlrTokenizer

final class SpecVectorTests: XCTestCase {
  let tok = TokenizerFixtures.tokenizer

  func testTaskPromptVectors() throws {
    let expected: [(String, [Int])] = [
      ("<CAPTION>", [0, 2264, 473, 5, 2274, 6190, 116, 2]),
      ("<DETAILED_CAPTION>", [0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2]),
      ("<MORE_DETAILED_CAPTION>", [0, 47066, 21700, 19, 10, 17818, 99, 16, 2343, 11, 5, 2274, 4, 2]),
      ("<OCR>", [0, 2264, 16, 5, 2788, 11, 5, 2274, 116, 2]),
      ("<OD>", [0, 574, 22486, 5, 8720, 19, 4120, 766, 11, 5, 2274, 4, 2]),
    ]
    for (task, ids) in expected {
      XCTAssertEqual(tok.encode(try FlorenceTask.prompt(for: task)), ids, task)
    }
    XCTAssertEqual(
      try tok.tokenStrings(tok.encode(try FlorenceTask.prompt(for: "<CAPTION>"))),
      ["<s>", "What", "Ġdoes", "Ġthe", "Ġimage", "Ġdescribe", "?", "</s>"])
  }

  func testCaptionEncodeAndDecode() {
    let caption = "A green car parked in front of a yellow building."
    let ids = [0, 250, 2272, 512, 9181, 11, 760, 9, 10, 5718, 745, 4, 2]
    XCTAssertEqual(tok.encode(caption), ids)
    let generated = [2] + ids
    let decoded = tok.decode(generated)
    XCTAssertTrue(sameText(decoded, "</s><s>A green car parked in front of a yellow building.</s>"), decoded)
    XCTAssertTrue(sameText(FlorenceTask.pureText(decoded), caption))
    XCTAssertTrue(sameText(tok.decode(generated, skipSpecialTokens: true), caption))
  }

  func testRegionPromptWithLocationTokens() throws {
    let text = "What is the region <loc_10><loc_20><loc_300><loc_400>?"
    let ids = [0, 2264, 16, 5, 976, 1437, 50279, 50289, 50569, 50669, 116, 2]
    XCTAssertEqual(tok.encode(text), ids)
    XCTAssertEqual(
      tok.encode(try FlorenceTask.prompt(for: "<REGION_TO_CATEGORY><loc_10><loc_20><loc_300><loc_400>")), ids)
    XCTAssertTrue(sameText(tok.decode(ids), "<s>" + text + "</s>"))
  }

  /// §5.3: the added tokens and their ids; len(tokenizer) = 51,289 = the model's vocab_size.
  func testFlorenceTokenIds() {
    XCTAssertEqual(tok.vocabularySize, 51289)
    XCTAssertEqual(BartTokenizer.florenceTokens.count, 1024)
    let expected: [(String, Int)] = [
      ("<s>", 0), ("<pad>", 1), ("</s>", 2), ("<unk>", 3), ("<mask>", 50264), ("<od>", 50265), ("</od>", 50266),
      ("<ocr>", 50267), ("</ocr>", 50268), ("<loc_0>", 50269), ("<loc_999>", 51268), ("<cap>", 51269),
      ("<region_to_desciption>", 51282), ("</region_to_desciption>", 51283), ("<poly>", 51286), ("<and>", 51288),
    ]
    for (token, id) in expected { XCTAssertEqual(tok.id(of: token), id, token) }
    for (i, token) in BartTokenizer.florenceTokens.enumerated() {
      XCTAssertEqual(tok.id(of: token), 50265 + i, token)
      XCTAssertTrue(tok.isSpecial(50265 + i))
    }
    XCTAssertEqual(tok.bosId, 0)
    XCTAssertEqual(tok.eosId, 2)
    XCTAssertEqual(tok.padId, 1)
    XCTAssertFalse(tok.isSpecial(5))
  }
}
