// Throughput of encode on captions (10,000 captions of 75 words take well under a second). The
// module is compiled with -O even in debug builds (Package.swift), so this is a release-speed figure;
// the assertion is loose (machines here are shared), the printed number is the measurement.
import Foundation
import XCTest

@testable import FlrTokenizer

final class SpeedTests: XCTestCase {
  func testTenThousandCaptionsOf75Words() {
    let tok = TokenizerFixtures.tokenizer
    let words =
      ("a man woman dog cat car red green blue sitting standing on in the of with near front back "
      + "large small tree building street sky water beach white black parked holding wearing table chair "
      + "window door grass field mountain cloud sign people group two three young old looking walking").split(
        separator: " ")
    var state: UInt64 = 42
    func next() -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int(state >> 33)
    }
    let captions: [String] = (0..<10_000).map { _ in
      (0..<75).map { i in
        let w = String(words[next() % words.count])
        return (i == 0 ? w.capitalized : w) + (next() % 12 == 0 ? "," : "")
      }.joined(separator: " ") + "."
    }
    var total = 0
    let start = Date()
    for c in captions { total += tok.encode(c).count }
    let seconds = Date().timeIntervalSince(start)
    print(String(format: "tokenizer: 10,000 captions of 75 words, %d tokens, in %.3f s", total, seconds))
    XCTAssertGreaterThan(total, 750_000)
    XCTAssertLessThan(seconds, 5, "far slower than the < 1 s target")
  }
}
