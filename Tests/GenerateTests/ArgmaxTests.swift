// Greedy search's argmax (DecodingLoop.argmax, 16 lanes at a time) against torch.argmax's definition, a scan keeping
// each strictly larger value: the first maximum, NaN never chosen, 0 for a row with nothing above -inf.
import XCTest

@testable import FlrGenerate

final class ArgmaxTests: XCTestCase {
  func scan(_ row: [Float]) -> Int32 {
    var best = 0
    var bestScore = -Float.infinity
    for i in row.indices where row[i] > bestScore {
      best = i
      bestScore = row[i]
    }
    return Int32(best)
  }

  func testFirstMaximumAsAScanFindsIt() {
    var rng = SystemRandomNumberGenerator()
    let special: [Float] = [.nan, -.infinity, 0, -0.0, .infinity]
    for trial in 0..<400 {
      let n = trial == 0 ? 51289 : [1, 5, 16, 17, 31, 48, 100, 999][trial % 8]
      // Few distinct values -> ties, within a block of 16 and across blocks; special values mixed in.
      var row = (0..<n).map { _ in Float(Int.random(in: -3...3, using: &rng)) }
      if trial % 3 == 0 {
        for _ in 0..<max(1, n / 4) { row[Int.random(in: 0..<n, using: &rng)] = special.randomElement(using: &rng)! }
      }
      if trial % 17 == 0 { row = row.map { $0.isNaN ? $0 : -.infinity } }
      // Zeros of both signs as the maximum.
      if trial % 19 == 0 { row = row.map { $0 >= 0 ? (Bool.random(using: &rng) ? 0 : -0.0) : $0 } }
      let got = row.withUnsafeBufferPointer { DecodingLoop.argmax($0.baseAddress!, count: n) }
      XCTAssertEqual(got, scan(row), "trial \(trial) n=\(n)")
    }
  }
}
