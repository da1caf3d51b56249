// The finished-hypothesis list's rules, each from transformers 4.48 generation/beam_search.py
// `BeamHypotheses.add` / `finalize` (SPEC §4.2 steps 5 and 8): score = sum_logprobs / len ** lp in float64;
// a full list takes a new entry only if it beats the worst strictly, then evicts the worst (the earliest of
// equal worsts: Python's sorted() over (score, position)); the result is the best, the latest of equal bests
// (sorted(...).pop()). Exact ties do not occur on real weights, so the fixtures cannot reach these branches.
import XCTest

@testable import FlrGenerate

final class BeamHypothesesTests: XCTestCase {
  func testScoreIsFloat64SumOverLength() {
    var list = BeamHypotheses(capacity: 2, lengthPenalty: 1.0)
    list.offer(tokens: [2, 0, 7], sumLogProbs: -1.0, generatedLength: 3)
    XCTAssertEqual(list.entries[0].score, -1.0 / 3.0)  // a Python float division, not Float(-1)/3
  }

  func testFullListEvictsEarliestOfEqualWorst() {
    var list = BeamHypotheses(capacity: 2, lengthPenalty: 1.0)
    list.offer(tokens: [10], sumLogProbs: -2, generatedLength: 1)
    list.offer(tokens: [11], sumLogProbs: -2, generatedLength: 1)
    list.offer(tokens: [12], sumLogProbs: -2, generatedLength: 1)  // not strictly better: discarded
    XCTAssertEqual(list.entries.map(\.tokens), [[10], [11]])
    list.offer(tokens: [13], sumLogProbs: -1, generatedLength: 1)  // evicts [10], the earlier of the two -2s
    XCTAssertEqual(list.entries.map(\.tokens), [[11], [13]])
  }

  func testBestIsLatestOfEqualBest() {
    var list = BeamHypotheses(capacity: 3, lengthPenalty: 1.0)
    list.offer(tokens: [20], sumLogProbs: -1, generatedLength: 1)
    list.offer(tokens: [21], sumLogProbs: -3, generatedLength: 1)
    list.offer(tokens: [22], sumLogProbs: -2, generatedLength: 2)  // -1.0 as well
    XCTAssertEqual(list.best?.tokens, [22])
    XCTAssertTrue(list.isFull)
  }
}
