// The softmax row (Sources/Kernels/softmax.c and its AVX2 / AVX-512 files) on every path this CPU runs, always
// including the portable one: bit for bit Softmax's Swift SIMD16 row (so the kernel path changes no fp32 result),
// and within a few ulps of a float64 softmax.
import CFlrKernels
import Foundation
import XCTest

@testable import FlrCore

final class SoftmaxKernelTests: XCTestCase {
  override func tearDown() { KernelPath.active = .supported }

  /// Lengths around the 16-lane blocks and the model's rows (DaViT windows 144, BART 590 / 600).
  static let lengths = [0, 1, 2, 7, 15, 16, 17, 31, 32, 33, 144, 590, 600, 601]

  /// Rows of each length: small values, a wide range (e^x underflows below -87.3), some -inf (masked) entries,
  /// every entry -inf, and values past exp16's clamps.
  func rows(_ n: Int, seed: UInt64) -> [[Float]] {
    var rng = SeededRNG(seed: seed)
    let small = (0..<n).map { _ in Float.random(in: -4...4, using: &rng) }
    let wide = (0..<n).map { _ in Float.random(in: -200...200, using: &rng) }
    let masked = (0..<n).map { i in i % 3 == 1 ? -Float.infinity : Float.random(in: -30...30, using: &rng) }
    let clamped = (0..<n).map { i in i % 2 == 0 ? Float(100) : Float(-100) }
    return [small, wide, masked, clamped, [Float](repeating: -.infinity, count: n)]
  }

  /// Softmax's Swift SIMD16 row (what aarch64 and FLR_KERNELS=portable run).
  func simd16Row(_ x: [Float]) -> [Float] {
    var out = [Float](repeating: .nan, count: x.count)
    out.withUnsafeMutableBufferPointer { o in
      x.withUnsafeBufferPointer { Softmax.simd16Row(o.baseAddress!, $0.baseAddress!, x.count) }
    }
    return out
  }

  func kernelRow(_ x: [Float]) -> [Float] {
    var out = [Float](repeating: .nan, count: x.count)
    out.withUnsafeMutableBufferPointer { o in
      x.withUnsafeBufferPointer { flr_softmax_row(o.baseAddress, $0.baseAddress, x.count) }
    }
    return out
  }

  func testEveryPathGivesTheSIMD16BitsAndTheForwardUsesIt() {
    for path in KernelPath.runnable {
      KernelPath.active = path
      XCTAssertEqual(KernelPath.active, path)
      for n in Self.lengths {
        for (kind, x) in rows(n, seed: UInt64(n)).enumerated() {
          let expected = simd16Row(x).map(\.bitPattern)
          XCTAssertEqual(kernelRow(x).map(\.bitPattern), expected, "\(path) n=\(n) row kind \(kind)")
          // Softmax.forward over two copies of the row, in place: the same bits.
          var twoRows = x + x
          twoRows.withUnsafeMutableBufferPointer {
            Softmax.forward(out: $0.baseAddress!, inp: $0.baseAddress!, rows: 2, dim: n)
          }
          XCTAssertEqual(twoRows.map(\.bitPattern), expected + expected, "\(path) forward n=\(n) kind \(kind)")
        }
      }
    }
  }

  /// Against float64: exp16 is within a few float ulps, the sum adds n roundings, and x - max is itself rounded
  /// (an absolute error of |x - max|·2⁻²⁴, relative in e^(x - max)): |error| ≤ (2e-6 + |x - max|·2⁻²³)·y + 2e-38
  /// (e^x is 0 below -87.3).
  func testEveryPathMatchesAFloat64Softmax() {
    for path in KernelPath.runnable {
      KernelPath.active = path
      for n in Self.lengths where n > 0 {
        for x in rows(n, seed: 7 + UInt64(n)) {
          let m = Double(x.max()!)
          let e = x.map { m == -.infinity ? 0 : Foundation.exp(Double($0) - m) }
          let sum = e.reduce(0, +)
          let y = kernelRow(x)
          for i in 0..<n {
            let want = sum > 0 ? e[i] / sum : 0
            let bound = (2e-6 + abs(Double(x[i]) - m) * 0x1p-23) * want + 2e-38
            XCTAssertEqual(Double(y[i]), want, accuracy: bound, "\(path) n=\(n) i=\(i)")
          }
        }
      }
    }
  }
}
