// The input gradient of a frozen bf16 / int8 weight (training under LoRA): Wᵀ repacked from the stored
// weight, the output gradient rounded to bf16, the accumulating bf16 product, on every path this CPU runs
// (always including the portable one), against a float64 reference on the same rounded inputs. Shapes cover
// odd and partial dimensions on both sides, few rows (split by panels) and many (split by rows), and a weight
// whose Wᵀ takes more than one tile.
import CFlrKernels
import XCTest

@testable import FlrCore

final class ReducedInputGradientTests: XCTestCase {
  static let shapes = [(n: 37, k: 77), (n: 16, k: 64), (n: 50, k: 130), (n: 33, k: 31), (n: 1, k: 1), (n: 300, k: 17)]

  override func tearDown() { KernelPath.active = .supported }

  func random(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SeededRNG(seed: seed)
    return (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }
  }

  func transposed(_ w: [Float], n: Int, k: Int) -> [Float] {
    var t = [Float](repeating: 0, count: n * k)
    for j in 0..<n { for i in 0..<k { t[i * n + j] = w[j * k + i] } }
    return t
  }

  func bf16Values(_ bits: [UInt16]) -> [Float] { bits.map { Float(bitPattern: UInt32($0) << 16) } }

  /// Wᵀ's panels from the stored weight are, bit for bit, flr_bf16_pack of the transposed decoded weight (for
  /// int8: code · scale rounded to bf16), packed in two pieces as the tiles do.
  func testTransposedPackingIsThePackingOfTheTransposedWeight() {
    for (n, k) in Self.shapes {
      let w = random(n * k, seed: 1)
      let bf16 = BF16Weight(w, outFeatures: n, inFeatures: k), int8 = Int8Weight(w, outFeatures: n, inFeatures: k)
      let panels = (k + 15) / 16, middle = panels / 2, panelCount = flr_bf16_transposed_panel_count(n)
      let cases: [(String, Tensor, (Int, Int, UnsafeMutablePointer<UInt16>) -> Void)] = [
        ("bf16", bf16.decoded(), bf16.packTransposed), ("int8", int8.decoded(), int8.packTransposed),
      ]
      for (name, decoded, pack) in cases {
        var expected = [UInt16](repeating: 0, count: flr_bf16_packed_count(k, n))
        flr_bf16_pack(transposed(decoded.toArray(), n: n, k: k), k, n, &expected)
        for path in KernelPath.runnable {
          KernelPath.active = path
          var got = [UInt16](repeating: 0xffff, count: expected.count)
          got.withUnsafeMutableBufferPointer { out in
            pack(0, middle, out.baseAddress!)
            pack(middle, panels, out.baseAddress! + middle * panelCount)
          }
          XCTAssertEqual(got, expected, "\(name) \(path) [\(n),\(k)]")
        }
      }
    }
  }

  /// Rows to bf16 with padding: flr_bf16_from_f32 on each row (ties to even, NaN quiet, infinities, signed
  /// zeros, subnormals kept), zeros up to the row stride.
  func testRowsToBF16AreTheElementwiseConversionZeroPadded() {
    let (m, k, ldd) = (3, 37, 40)
    var x = random(m * k, seed: 2)
    let special: [Float] = [
      1 + 0x1p-8, 1 + 3 * 0x1p-8, .nan, -.nan, .infinity, -.infinity, -0.0, 0x1p-130, -0x1p-140,
      .greatestFiniteMagnitude,
    ]
    for (i, v) in special.enumerated() { x[k + 5 + i] = v }
    var expected = [UInt16](repeating: 0, count: m * ldd)
    for r in 0..<m {
      var row = [UInt16](repeating: 0, count: k)
      flr_bf16_from_f32(Array(x[(r * k)..<((r + 1) * k)]), &row, k)
      for i in 0..<k { expected[r * ldd + i] = row[i] }
    }
    for path in KernelPath.runnable {
      KernelPath.active = path
      var got = [UInt16](repeating: 0xffff, count: m * ldd)
      flr_bf16_from_f32_rows(x, m, k, k, &got, ldd)
      XCTAssertEqual(got, expected, "\(path)")
    }
  }

  /// c += a · Wᵀ on bf16 inputs: |error| ≤ 2·(k + 2)·2⁻²⁴·(Σ|a·w| + |c₀|), the fp32 summation bound with room
  /// for vdpbf16ps's order and the chunked reduction; every bf16 x bf16 product is exact in fp32. AVX2 adds
  /// the same products in the same order as the portable path: the same bits.
  func testAccumulatingProductMatchesFloat64Reference() {
    for (rows, n, k) in [(1, 37, 77), (13, 50, 601), (9, 33, 31), (20, 16, 2)] {
      let w = random(n * k, seed: 3), x = random(rows * k, seed: 4), c0 = random(rows * n, seed: 5)
      let lda = (k + 1) / 2 * 2
      var packed = [UInt16](repeating: 0, count: flr_bf16_packed_count(n, k))
      flr_bf16_pack(w, n, k, &packed)
      var a = [UInt16](repeating: 0, count: rows * lda)
      flr_bf16_from_f32_rows(x, rows, k, k, &a, lda)
      var wr = [Float](repeating: 0, count: n * k)
      flr_bf16_unpack_rows(packed, n, k, 0, n, &wr)
      let xr = bf16Values(a)
      var results: [KernelPath: [Float]] = [:]
      for path in KernelPath.runnable {
        KernelPath.active = path
        var c = c0
        flr_bf16_gemm_accumulate(a, lda, rows, packed, n, k, &c, n, 0, (n + 15) / 16)
        for i in 0..<rows {
          for j in 0..<n {
            var s = Double(c0[i * n + j]), magnitude = abs(Double(c0[i * n + j]))
            for t in 0..<k {
              s += Double(xr[i * lda + t]) * Double(wr[j * k + t])
              magnitude += abs(Double(xr[i * lda + t]) * Double(wr[j * k + t]))
            }
            let bound = 2 * Double(k + 2) * 0x1p-24 * magnitude
            XCTAssertLessThanOrEqual(abs(Double(c[i * n + j]) - s), bound, "\(path) [\(rows),\(n),\(k)] (\(i),\(j))")
          }
        }
        results[path] = c
      }
      if let avx2 = results[.avx2] { XCTAssertEqual(avx2, results[.portable], "[\(rows),\(n),\(k)]") }
    }
  }

  /// dinp += dout · W through BF16Weight and Int8Weight, accumulated into what dinp held: on every path and at
  /// every row count the reference takes bf16(dout) and the repacked bf16 weight. Bound as above, over the
  /// reduction n.
  func testInputGradientMatchesFloat64ReferenceOnEveryPath() {
    let tileBytes = ReducedProducts.transposedTileBytes
    defer { ReducedProducts.transposedTileBytes = tileBytes }
    // 70 rows: split by rows; [.., 77]: five panels of Wᵀ, in tiles of two with the smallest tile.
    for (rows, n, k, tile) in [
      (6, 40, 24, tileBytes), (70, 33, 50, tileBytes), (5, 301, 77, tileBytes), (70, 45, 77, 1),
    ] {
      ReducedProducts.transposedTileBytes = tile
      let w = random(n * k, seed: 6), dout = random(rows * n, seed: 7), dinp0 = random(rows * k, seed: 8)
      let bf16 = BF16Weight(w, outFeatures: n, inFeatures: k), int8 = Int8Weight(w, outFeatures: n, inFeatures: k)
      let weights: [(String, any RowDecodedWeight, (Int, Int, UnsafeMutablePointer<UInt16>) -> Void)] = [
        ("bf16", bf16, bf16.packTransposed), ("int8", int8, int8.packTransposed),
      ]
      for (name, weight, pack) in weights {
        var repacked = [UInt16](repeating: 0, count: flr_bf16_packed_count(k, n))
        pack(0, (k + 15) / 16, &repacked)
        var wt = [Float](repeating: 0, count: n * k)  // Wᵀ [k, n] as the bf16 product sees it
        flr_bf16_unpack_rows(repacked, k, n, 0, k, &wt)
        var rounded = [Float](repeating: 0, count: dout.count)
        BF16Weight.round(dout, into: &rounded, count: dout.count)
        for path in KernelPath.runnable {
          KernelPath.active = path
          var dinp = dinp0
          weight.linearBackwardInput(dinp: &dinp, dout: dout, rows: rows)
          for i in 0..<rows {
            for t in 0..<k {
              var s = Double(dinp0[i * k + t]), magnitude = abs(s)
              for j in 0..<n {
                let term = Double(rounded[i * n + j]) * Double(wt[t * n + j])
                s += term
                magnitude += abs(term)
              }
              let bound = 2 * Double(n + 2) * 0x1p-24 * magnitude
              XCTAssertLessThanOrEqual(
                abs(Double(dinp[i * k + t]) - s), bound, "\(name) \(path) [\(rows),\(n),\(k)] (\(i),\(t))")
            }
          }
        }
      }
    }
  }

  /// The repacked int8 weight is the dequantized one within bf16's rounding (half a unit in the last of its 8
  /// significant bits), far inside the int8 step.
  func testInt8RepackingRoundsTheDequantizedWeightToBF16() {
    let (n, k) = (21, 45)
    let int8 = Int8Weight(random(n * k, seed: 9), outFeatures: n, inFeatures: k)
    let decoded = int8.decoded().toArray()
    var repacked = [UInt16](repeating: 0, count: flr_bf16_packed_count(k, n))
    int8.packTransposed(0, (k + 15) / 16, into: &repacked)
    var wt = [Float](repeating: 0, count: n * k)
    flr_bf16_unpack_rows(repacked, k, n, 0, k, &wt)
    for j in 0..<n {
      for i in 0..<k {
        XCTAssertLessThanOrEqual(abs(wt[i * n + j] - decoded[j * k + i]), abs(decoded[j * k + i]) * 0x1p-8)
      }
    }
  }

  /// The profile tells reduced-precision products from fp32 GEMMs: bf16 and int8 forward and input gradient
  /// are their own rows, with their FLOPs, and no GEMM row appears.
  func testProfileNamesReducedProducts() {
    let (rows, n, k) = (70, 48, 40)
    let w = random(n * k, seed: 10), x = random(rows * k, seed: 11)
    let bf16 = BF16Weight(w, outFeatures: n, inFeatures: k), int8 = Int8Weight(w, outFeatures: n, inFeatures: k)
    var y = [Float](repeating: 0, count: rows * n), dx = [Float](repeating: 0, count: rows * k)
    Profile.start()
    for weight in [bf16, int8] as [any RowDecodedWeight] {
      Profile.pass = .forward
      weight.linearForward(out: &y, inp: x, bias: nil, rows: rows)
      Profile.pass = .backward
      weight.linearBackwardInput(dinp: &dx, dout: y, rows: rows)
    }
    let report = Profile.stop()
    for kind in [OpKind.bf16Product, .int8Product] {
      for pass in Pass.allCases {
        let row = report.rows.first { $0.kind == kind && $0.pass == pass }
        XCTAssertEqual(row?.figures.calls, 1, "\(kind.name) \(pass)")
        XCTAssertEqual(row?.figures.flops, Double(2 * rows * n * k), "\(kind.name) \(pass)")
      }
    }
    XCTAssertFalse(report.rows.contains { $0.kind == .gemm }, "\(report.rows.map { $0.kind.name })")
  }
}
