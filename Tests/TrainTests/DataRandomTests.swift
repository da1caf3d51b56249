// PythonRandom against CPython 3.11's `random` (Tests/Fixtures/data/random.json): exact, every value.
import XCTest

@testable import FlrTrain

final class DataRandomTests: XCTestCase {
  func testMatchesPythonRandom() throws {
    let cases = try XCTUnwrap(try DataFixtures.json("random.json")["cases"] as? [[String: Any]])
    XCTAssertGreaterThan(cases.count, 5)
    for c in cases {
      let lo = try XCTUnwrap((c["seed_lo"] as? NSNumber)?.uint64Value)
      let stream = try XCTUnwrap((c["seed_stream"] as? NSNumber)?.uint64Value)
      var rng = stream == 0 ? PythonRandom(seed: lo) : PythonRandom(seed: lo, stream: stream)
      let label = "seed \(lo) + (\(stream) << 64)"
      for expected in try XCTUnwrap(c["random"] as? [String]) {
        XCTAssertEqual(rng.random(), Double(expected), label)  // exact: 53-bit doubles from the same words
      }
      let bits = try XCTUnwrap(c["getrandbits"] as? [String: [NSNumber]])
      for (k, v) in zip(bits["k"]!, bits["values"]!) {
        XCTAssertEqual(UInt64(rng.getrandbits(k.intValue)), v.uint64Value, "\(label) getrandbits(\(k))")
      }
      let below = try XCTUnwrap(c["randbelow"] as? [String: [NSNumber]])
      for (n, v) in zip(below["n"]!, below["values"]!) {
        XCTAssertEqual(rng.randbelow(n.intValue), v.intValue, "\(label) _randbelow(\(n))")
      }
      var x = Array(0..<12)
      rng.shuffle(&x)
      XCTAssertEqual(x, try XCTUnwrap(c["shuffle12"] as? [Int]), label)
      XCTAssertEqual(rng.random(), Double(try XCTUnwrap(c["random_after"] as? String)), label)
    }
  }
}
