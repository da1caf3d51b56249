// Caption augmentation against the reference script's shuffle_caption driven by Python's random (shuffle.json, exact
// strings), and flr's documented differences.
import XCTest

@testable import FlrTrain

final class DataAugmentationTests: XCTestCase {
  func testShuffleMatchesSeed() throws {
    let fixture = try DataFixtures.json("shuffle.json")
    let captions = try XCTUnwrap(fixture["captions"] as? [String])
    let repeats = try XCTUnwrap(fixture["repeats"] as? Int)
    let cases = try XCTUnwrap(fixture["cases"] as? [[String: Any]])
    XCTAssertEqual(cases.count, 21)
    for c in cases {
      let lo = try XCTUnwrap((c["seed_lo"] as? NSNumber)?.uint64Value)
      let stream = try XCTUnwrap((c["seed_stream"] as? NSNumber)?.uint64Value)
      var rng = stream == 0 ? PythonRandom(seed: lo) : PythonRandom(seed: lo, stream: stream)
      let frozen = try XCTUnwrap(c["frozen_parts"] as? Int)
      let dropout = try XCTUnwrap((c["dropout"] as? NSNumber)?.doubleValue)
      let augmentation = CaptionAugmentation(shuffle: true, frozenParts: frozen, dropout: dropout)
      var outputs: [String] = []
      for _ in 0..<repeats {
        for text in captions where frozen <= CaptionAugmentation.parts(of: text).count {
          outputs.append(augmentation.apply(text, rng: &rng))
        }
      }
      XCTAssertEqual(
        outputs, try XCTUnwrap(c["outputs"] as? [String]), "seed \(lo) frozen \(frozen) dropout \(dropout)")
    }
  }

  func testIdentityLeavesCaptionAndRandomUntouched() {
    var rng = PythonRandom(seed: 3)
    var reference = PythonRandom(seed: 3)
    let text = " a ,  b, c "
    XCTAssertEqual(CaptionAugmentation.none.apply(text, rng: &rng), text)
    XCTAssertEqual(rng, reference)
    _ = reference.random()
    XCTAssertNotEqual(rng, reference)
  }

  func testFrozenBeyondPartsFreezesAll() {
    // The reference script raises IndexError here; flr keeps every part in place.
    var rng = PythonRandom(seed: 1)
    let a = CaptionAugmentation(shuffle: true, frozenParts: 5, dropout: 0.9)
    XCTAssertEqual(a.apply("x, y, z", rng: &rng), "x, y, z")
  }

  func testDropoutWithoutShuffleKeepsOrder() {
    var rng = PythonRandom(seed: 11)
    var draws = PythonRandom(seed: 11)
    let parts = (0..<40).map { "p\($0)" }
    let out = CaptionAugmentation(shuffle: false, frozenParts: 1, dropout: 0.5).apply(
      parts.joined(separator: ", "), rng: &rng)
    let kept = ["p0"] + parts.dropFirst().filter { _ in draws.random() > 0.5 }
    XCTAssertEqual(out, kept.joined(separator: ", "))
    XCTAssertTrue(kept.count > 5 && kept.count < 35, "dropout 0.5 of 39 parts kept \(kept.count)")
  }

  func testPythonStrip() {
    XCTAssertEqual(PythonText.strip("\u{3000}\u{1C} a b \u{85}\u{A0}"), "a b")
    XCTAssertEqual(PythonText.strip("\u{200B}x\u{FEFF}"), "\u{200B}x\u{FEFF}")  // not whitespace to Python
    XCTAssertEqual(PythonText.strip(" \t\n"), "")
  }
}
