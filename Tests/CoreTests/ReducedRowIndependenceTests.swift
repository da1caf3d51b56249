// A row's result from a bf16 or int8 product does not depend on how many rows share the product nor on the
// row's position: batch decoding (beams x images in one step) and batched images must give each row the bits
// it gets alone. Every path this CPU runs (always including the portable one); row counts across decoding's
// tiles (bf16: up to 6 rows x 4 panels, up to 12 x 2; int8: up to 10 rows x 1 panel, up to 12 x 2), the tiles
// of many rows, the AVX2 bf16 product's change from widening in registers to widening blocks (32 rows), and the
// split over workers by panels (below 64 rows) and by rows (from 64); k not a multiple of the bf16 pair or the
// int8 quad, n not a multiple of the panel, and sums long enough to cross the AVX2 many-rows kernel's K-blocks
// (k = 531 forward, n = 530 for the input gradient), an output dimension long enough for the input gradient's
// chunked reduction.
import XCTest

@testable import FlrCore

final class ReducedRowIndependenceTests: XCTestCase {
  static let shapes = [(n: 83, k: 77), (n: 530, k: 45), (n: 37, k: 531)]
  static let rowCounts = [1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 31, 32, 64, 300]

  override func tearDown() { KernelPath.active = .supported }

  func random(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SeededRNG(seed: seed)
    return (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }
  }

  func weights(n: Int, k: Int) -> [(String, RowDecodedWeight)] {
    let w = random(n * k, seed: 11)
    return [
      ("bf16", BF16Weight(w, outFeatures: n, inFeatures: k)), ("int8", Int8Weight(w, outFeatures: n, inFeatures: k)),
    ]
  }

  /// The first row that differs from the same row alone, if any.
  func firstDifferingRow(
    rows: Int, width: Int, together: [Float], alone: (Int) -> [Float]
  ) -> (row: Int, column: Int, together: Float, alone: Float)? {
    for i in 0..<rows {
      let single = alone(i)
      for j in 0..<width where together[i * width + j].bitPattern != single[j].bitPattern {
        return (i, j, together[i * width + j], single[j])
      }
    }
    return nil
  }

  func testForwardRowsAreBitIdenticalToTheSameRowAlone() {
    for (n, k) in Self.shapes {
      let bias = random(n, seed: 12)
      for (precision, weight) in weights(n: n, k: k) {
        for path in KernelPath.runnable {
          KernelPath.active = path
          for rows in Self.rowCounts {
            let x = random(rows * k, seed: UInt64(13 + rows))
            var y = [Float](repeating: .nan, count: rows * n)
            weight.linearForward(out: &y, inp: x, bias: bias, rows: rows)
            let differs = firstDifferingRow(rows: rows, width: n, together: y) { i in
              var single = [Float](repeating: .nan, count: n)
              Array(x[(i * k)..<((i + 1) * k)]).withUnsafeBufferPointer {
                weight.linearForward(out: &single, inp: $0.baseAddress!, bias: bias, rows: 1)
              }
              return single
            }
            XCTAssertNil(
              differs, "\(precision) \(path) forward [\(n),\(k)] with \(rows) rows: \(differs.map { "\($0)" } ?? "")")
          }
        }
      }
    }
  }

  /// The frozen base's input gradient (training under LoRA), added into a gradient that already holds values.
  func testInputGradientRowsAreBitIdenticalToTheSameRowAlone() {
    for (n, k) in Self.shapes {
      for (precision, weight) in weights(n: n, k: k) {
        for path in KernelPath.runnable {
          KernelPath.active = path
          for rows in Self.rowCounts {
            let dout = random(rows * n, seed: UInt64(20 + rows)), start = random(rows * k, seed: UInt64(40 + rows))
            var dinp = start
            weight.linearBackwardInput(dinp: &dinp, dout: dout, rows: rows)
            let differs = firstDifferingRow(rows: rows, width: k, together: dinp) { i in
              var single = Array(start[(i * k)..<((i + 1) * k)])
              Array(dout[(i * n)..<((i + 1) * n)]).withUnsafeBufferPointer {
                weight.linearBackwardInput(dinp: &single, dout: $0.baseAddress!, rows: 1)
              }
              return single
            }
            XCTAssertNil(
              differs,
              "\(precision) \(path) input gradient [\(n),\(k)] with \(rows) rows: \(differs.map { "\($0)" } ?? "")")
          }
        }
      }
    }
  }
}
