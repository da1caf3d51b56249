// Partial selection against the definition it replaces: a full sort of every candidate by (score
// descending, flat index ascending), on rows with many exact ties and -inf entries.
import XCTest

@testable import FlrGenerate

final class TopCandidatesTests: XCTestCase {
  func testMatchesFullSortWithTies() {
    var rng = SystemRandomNumberGenerator()
    for trial in 0..<50 {
      let beams = 1 + trial % 4, vocab = 37 + trial
      // Few distinct values -> many exact ties; some -inf as banned tokens.
      let rows = (0..<beams).map { _ in
        (0..<vocab).map { _ -> Float in
          Int.random(in: 0..<10, using: &rng) == 0 ? -.infinity : Float(Int.random(in: -4...0, using: &rng))
        }
      }
      let offsets = (0..<beams).map { _ in Float(Int.random(in: -2...0, using: &rng)) }
      var top = TopCandidates(capacity: 2 * beams)
      for b in 0..<beams {
        rows[b].withUnsafeBufferPointer { top.scan($0.baseAddress!, count: vocab, adding: offsets[b], base: b * vocab) }
      }
      let all = (0..<beams).flatMap { b in (0..<vocab).map { (score: rows[b][$0] + offsets[b], index: b * vocab + $0) }
      }
      let sorted = all.sorted { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }.prefix(2 * beams)
      XCTAssertEqual(top.indices, sorted.map(\.index), "trial \(trial)")
      XCTAssertEqual(top.scores, sorted.map(\.score), "trial \(trial)")
    }
  }

  /// Each row's own best (a beam's share of a step), merged: the list one scan over all the rows gives.
  func testMergedRowListsMatchOneScan() {
    var rng = SystemRandomNumberGenerator()
    for trial in 0..<200 {
      let beams = 1 + trial % 4, vocab = 5 + trial % 40
      let rows = (0..<beams).map { _ in
        (0..<vocab).map { _ -> Float in
          Int.random(in: 0..<10, using: &rng) == 0 ? -.infinity : Float(Int.random(in: -3...0, using: &rng))
        }
      }
      let offsets = (0..<beams).map { _ in Float(Int.random(in: -1...0, using: &rng)) }
      var whole = TopCandidates(capacity: 2 * beams)
      var lists: [TopCandidates] = []
      for b in 0..<beams {
        var own = TopCandidates(capacity: 2 * beams)
        rows[b].withUnsafeBufferPointer {
          whole.scan($0.baseAddress!, count: vocab, adding: offsets[b], base: b * vocab)
          own.scan($0.baseAddress!, count: vocab, adding: offsets[b], base: b * vocab)
        }
        lists.append(own)
      }
      let merged = lists.withUnsafeBufferPointer { TopCandidates.merged($0, capacity: 2 * beams) }
      XCTAssertEqual(merged.indices, whole.indices, "trial \(trial)")
      XCTAssertEqual(merged.scores, whole.scores, "trial \(trial)")
      // A list refilled after removeAll is the list of its new row.
      var reused = lists[0]
      reused.removeAll()
      rows[beams - 1].withUnsafeBufferPointer {
        reused.scan($0.baseAddress!, count: vocab, adding: offsets[beams - 1], base: (beams - 1) * vocab)
      }
      XCTAssertEqual(reused.indices, lists[beams - 1].indices, "trial \(trial) reused")
    }
  }
}
