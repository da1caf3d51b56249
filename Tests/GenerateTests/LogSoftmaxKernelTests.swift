// The log-softmax row (Sources/Kernels/log_softmax.c and its AVX-512 file) on every path this CPU runs, always
// including the portable one: bit for bit LogSoftmax's Swift SIMD16 row (so the kernel path changes no beam score),
// and LogSoftmax.inPlace on each path gives the bits of the Swift row.
import CFlrKernels
import FlrCore
import XCTest

@testable import FlrGenerate

final class LogSoftmaxKernelTests: XCTestCase {
  override func tearDown() { KernelPath.active = .supported }

  /// Lengths around the 16-lane blocks, and Florence-2's vocabulary (51289 = 16·3205 + 9).
  static let lengths = [0, 1, 7, 15, 16, 17, 33, 601, 51289]

  /// Logits-like rows: small, wide (exp's underflow below -87.3 from the max), with -inf entries (banned tokens),
  /// and rows of special values (every entry -inf; a +inf; a NaN).
  func rows(_ n: Int, seed: UInt64) -> [[Float]] {
    var rng = SeededRNG(seed: seed)
    let uniform = { (scale: Float) in (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * scale } }
    var banned = uniform(8)
    for i in stride(from: 0, to: n, by: 5) { banned[i] = -.infinity }
    var withInf = uniform(3), withNaN = uniform(3)
    if n > 2 {
      withInf[n / 2] = .infinity
      withNaN[n / 3] = .nan
    }
    return [uniform(4), uniform(120), banned, Array(repeating: -.infinity, count: n), withInf, withNaN]
  }

  /// Bit patterns with every NaN as one (a NaN's payload is not part of the result).
  func bits(_ v: [Float]) -> [UInt32] { v.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }

  func testEveryPathGivesTheSIMD16Bits() {
    for path in KernelPath.runnable {
      KernelPath.active = path
      XCTAssertEqual(KernelPath.active, path)
      for n in Self.lengths {
        for (kind, row) in rows(n, seed: UInt64(n)).enumerated() {
          var want = row, got = row, dispatched = row
          want.withUnsafeMutableBufferPointer { LogSoftmax.simd16InPlace($0.baseAddress!, count: n) }
          got.withUnsafeMutableBufferPointer { flr_log_softmax_row($0.baseAddress, n) }
          dispatched.withUnsafeMutableBufferPointer { LogSoftmax.inPlace($0.baseAddress!, count: n) }
          XCTAssertEqual(bits(got), bits(want), "\(path) n=\(n) kind \(kind)")
          XCTAssertEqual(bits(dispatched), bits(want), "inPlace \(path) n=\(n) kind \(kind)")
        }
      }
    }
  }

  /// The rows are log-probabilities: Σ exp = 1 within float rounding, and a row without a finite max is left as is.
  func testRowsAreLogProbabilities() {
    for path in KernelPath.runnable {
      KernelPath.active = path
      let given = rows(601, seed: 9)
      for (kind, row) in given.enumerated() {
        var out = row
        out.withUnsafeMutableBufferPointer { LogSoftmax.inPlace($0.baseAddress!, count: 601) }
        if kind == 3 || kind == 4 {
          XCTAssertEqual(bits(out), bits(row), "\(path) kind \(kind) unchanged")
        } else if kind < 3 {
          let total = out.reduce(0.0) { $0 + exp(Double($1)) }
          XCTAssertEqual(total, 1, accuracy: 1e-5, "\(path) kind \(kind)")
        }
      }
    }
  }
}
