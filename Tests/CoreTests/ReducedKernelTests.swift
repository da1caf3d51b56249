// The bf16 and int8 kernels (Sources/Kernels) on every path this CPU runs, always including the portable one,
// against a float64 reference computed from the same rounded / quantized inputs. Shapes cover partial
// panels (n not a multiple of 16), odd k (bf16 pairs) and k not a multiple of 4 (int8 quads), tiles with
// fewer rows than the tile, decoding's row counts (each of its tile shapes, up to 12 rows), and both ways of
// splitting over workers (by panels below 64 rows, by rows above).
import CFlrKernels
import XCTest

@testable import FlrCore

final class ReducedKernelTests: XCTestCase {
  static let shapes = [
    (rows: 1, n: 37, k: 77), (rows: 5, n: 16, k: 64), (rows: 13, n: 50, k: 130), (rows: 70, n: 33, k: 31),
    // Decoding rows (up to 4: tiles of 4 panels, then the panels left over), split over workers by panels.
    (rows: 1, n: 200, k: 768), (rows: 3, n: 130, k: 70), (rows: 4, n: 96, k: 36), (rows: 2, n: 72, k: 3072),
    // 5-12 rows (tiles of 4 panels up to 6 rows, of 2 for more; int8: one panel with alternate quads in
    // separate sums up to 10 rows, a sum not a multiple of those quads), 13 (a 12-row tile and a 1-row one).
    (rows: 1, n: 20, k: 54), (rows: 6, n: 100, k: 66), (rows: 9, n: 50, k: 768), (rows: 11, n: 37, k: 130),
    (rows: 12, n: 83, k: 130), (rows: 13, n: 40, k: 45),
  ]

  override func tearDown() { KernelPath.active = .supported }

  func random(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SeededRNG(seed: seed)
    return (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }
  }

  func testPortablePathIsAlwaysRunnableAndSelectable() {
    XCTAssertEqual(KernelPath.runnable.first, .portable)
    KernelPath.active = .portable
    XCTAssertEqual(KernelPath.active, .portable)
    KernelPath.active = .avx512  // clamped to what the CPU has
    XCTAssertEqual(KernelPath.active, KernelPath.supported)
  }

  func testBF16RoundsToNearestEven() {
    // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even (1); 1 + 3·2^-8 ties up to 1 + 2^-6.
    let x: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, 1 + 0x1p-8 + 0x1p-20, -2.5, .infinity]
    var y = [Float](repeating: 0, count: x.count)
    BF16Weight.round(x, into: &y, count: x.count)
    XCTAssertEqual(y, [1, 1 + 0x1p-6, 1 + 0x1p-7, -2.5, .infinity])
  }

  /// |error| ≤ 2·k·2⁻²⁴·Σ|a·w| + 2⁻²⁴·|bias|: the fp32 summation bound (γ_k) with room for the reordering of
  /// vdpbf16ps; every bf16 x bf16 product is exact in fp32, so the sums are the only error.
  func testBF16GemmMatchesFloat64ReferenceOnEveryPath() throws {
    for (rows, n, k) in Self.shapes {
      let x = random(rows * k, seed: 1), w = random(n * k, seed: 2), bias = random(n, seed: 3)
      let weight = BF16Weight(w, outFeatures: n, inFeatures: k)
      var wr = [Float](repeating: 0, count: n * k), rounded = [Float](repeating: 0, count: rows * k)
      weight.decodeRows(0..<n, into: &wr)
      BF16Weight.round(x, into: &rounded, count: x.count)
      var results: [KernelPath: [Float]] = [:]
      for path in KernelPath.runnable {
        KernelPath.active = path
        var y = [Float](repeating: .nan, count: rows * n)
        weight.linearForward(out: &y, inp: x, bias: bias, rows: rows)
        for i in 0..<rows {
          for j in 0..<n {
            var s = Double(bias[j]), magnitude = 0.0
            for t in 0..<k {
              s += Double(rounded[i * k + t]) * Double(wr[j * k + t])
              magnitude += abs(Double(rounded[i * k + t]) * Double(wr[j * k + t]))
            }
            let bound = 2 * Double(k) * 0x1p-24 * magnitude + 0x1p-24 * abs(Double(bias[j]))
            XCTAssertLessThanOrEqual(abs(Double(y[i * n + j]) - s), bound, "\(path) [\(rows),\(n),\(k)] (\(i),\(j))")
          }
        }
        results[path] = y
      }
      // Portable and AVX2 add the same exact products in the same order.
      if let avx2 = results[.avx2] { XCTAssertEqual(avx2, results[.portable], "[\(rows),\(n),\(k)]") }
    }
  }

  /// The integer sums are exact, so the result is a_scale·w_scale·Σ qa·qw + bias up to the epilogue's fp32
  /// roundings (int32 -> fp32, the scale product, the multiply, the bias add: 4·2⁻²⁴ relative to the terms'
  /// magnitude); every path gives the same bits.
  func testInt8GemmMatchesFloat64ReferenceAndPathsAgreeBitForBit() throws {
    for (rows, n, k) in Self.shapes {
      let x = random(rows * k, seed: 4), w = random(n * k, seed: 5), bias = random(n, seed: 6)
      let weight = Int8Weight(w, outFeatures: n, inFeatures: k)
      var wd = [Float](repeating: 0, count: n * k)
      weight.decodeRows(0..<n, into: &wd)
      // The per-row activation quantization, as the kernel does it.
      let lda = (k + 3) / 4 * 4
      var codes = [Int8](repeating: 0, count: rows * lda), scales = [Float](repeating: 0, count: rows)
      flr_int8_quantize_rows(x, rows, k, &codes, lda, &scales)
      for i in 0..<rows {
        let rowMax = (0..<k).map { abs(x[i * k + $0]) }.max() ?? 0
        XCTAssertEqual(scales[i], rowMax / 127)
        for t in 0..<k {
          XCTAssertLessThanOrEqual(abs(Float(codes[i * lda + t]) * scales[i] - x[i * k + t]), scales[i] / 2 * 1.0001)
        }
      }
      var results: [[Float]] = []
      for path in KernelPath.runnable {
        KernelPath.active = path
        var y = [Float](repeating: .nan, count: rows * n)
        weight.linearForward(out: &y, inp: x, bias: bias, rows: rows)
        for i in 0..<rows {
          for j in 0..<n {
            var s = 0.0, magnitude = 0.0
            for t in 0..<k {
              s += Double(codes[i * lda + t]) * Double(wd[j * k + t])
              magnitude += abs(Double(codes[i * lda + t]) * Double(wd[j * k + t]))
            }
            let expected = s * Double(scales[i]) + Double(bias[j])
            // (wd = code · scale is itself rounded to fp32: one more 2⁻²⁴ per term.)
            let bound = 4 * 0x1p-24 * (magnitude * Double(scales[i]) + abs(Double(bias[j])))
            XCTAssertLessThanOrEqual(
              abs(Double(y[i * n + j]) - expected), bound, "\(path) [\(rows),\(n),\(k)] (\(i),\(j))")
          }
        }
        results.append(y)
      }
      for y in results.dropFirst() { XCTAssertEqual(y, results[0], "paths differ at [\(rows),\(n),\(k)]") }
    }
  }

  /// The activation rows' quantization gives the same codes and scales on every path: lengths with and without
  /// a vector tail, a row of repeated values whose largest magnitude is negative, a zero row, one huge value.
  func testInt8RowQuantizationIsTheSameOnEveryPath() {
    for k in [1, 7, 8, 31, 32, 45, 768] {
      let rows = 4, lda = (k + 3) / 4 * 4
      var x = random(rows * k, seed: UInt64(20 + k))
      for t in 0..<k {
        x[t] = Float(t % 9) - 4.5
        x[2 * k + t] = 0
      }
      x[3 * k + k / 2] = 1e30
      var reference: (codes: [Int8], scales: [Float])?
      for path in KernelPath.runnable {
        KernelPath.active = path
        var codes = [Int8](repeating: 99, count: rows * lda), scales = [Float](repeating: .nan, count: rows)
        flr_int8_quantize_rows(x, rows, k, &codes, lda, &scales)
        if let reference {
          XCTAssertEqual(codes, reference.codes, "\(path) codes, k = \(k)")
          XCTAssertEqual(scales, reference.scales, "\(path) scales, k = \(k)")
        } else {
          reference = (codes, scales)
        }
      }
    }
  }

  /// Per-channel symmetric quantization: each decoded weight is within half a step of the original.
  func testInt8WeightQuantizationIsWithinHalfAStep() {
    let (n, k) = (21, 45)
    let w = random(n * k, seed: 7)
    let weight = Int8Weight(w, outFeatures: n, inFeatures: k)
    var wd = [Float](repeating: 0, count: n * k)
    weight.decodeRows(0..<n, into: &wd)
    for j in 0..<n {
      let step = ((0..<k).map { abs(w[j * k + $0]) }.max() ?? 0) / 127
      for t in 0..<k { XCTAssertLessThanOrEqual(abs(wd[j * k + t] - w[j * k + t]), step / 2 * 1.0001) }
    }
  }
}
