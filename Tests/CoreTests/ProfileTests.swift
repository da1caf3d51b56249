import XCTest

@testable import FlrCore

/// Core's Profile: silent and clock-free while off; while on, one row per outermost kernel call, with the
/// declared work, and rows that add up to the profiled wall time.
final class ProfileTests: XCTestCase {
  /// A few kernels of each threading kind: a split GEMM, a parallel elementwise op, LayerNorm, an allocation.
  private func kernels(_ x: Tensor, _ w: Tensor, _ y: Tensor, rows: Int, dim: Int) {
    Linear.forward(out: y.data, inp: x.data, weight: w.data, bias: nil, rows: rows, inFeatures: dim, outFeatures: dim)
    Elementwise.addInPlace(y.data, x.data, count: rows * dim)
    let ones = Tensor(shape: [dim], values: Array(repeating: 1, count: dim)), zeros = Tensor(zeros: [dim])
    LayerNorm.forward(
      out: y.data, mean: nil, rstd: nil, inp: y.data, weight: ones.data, bias: zeros.data, rows: rows, dim: dim,
      eps: 1e-5)
    Gemm.matmul(x.data, w.data, y.data, m: rows, n: dim, k: dim)
  }

  /// Off: kernels read no clock and record nothing, and `begin` hands back the empty scope. (Counts, not time:
  /// the cost of the off path is one load and a branch per kernel call.)
  func testOffReadsNoClockAndRecordsNothing() {
    XCTAssertFalse(Profile.isOn)
    let rows = 256, dim = 256
    let x = Tensor(zeros: [rows, dim]), w = Tensor(zeros: [dim, dim]), y = Tensor(zeros: [rows, dim])
    let reads = Profile.clockReads
    for _ in 0..<3 { kernels(x, w, y, rows: rows, dim: dim) }
    XCTAssertEqual(Profile.begin(.gemm, flops: 1), 0)
    XCTAssertEqual(Profile.clockReads, reads)
  }

  /// On: a GEMM inside Linear is Linear's (one row, its declared FLOPs once); a plain GEMM takes
  /// `Profile.pass`; kernels inside parallel regions are charged to the scope that opened the region.
  func testRowsCountOutermostCallsWithTheirWork() {
    let rows = 64, dim = 32
    let x = Tensor(zeros: [rows, dim]), w = Tensor(zeros: [dim, dim]), y = Tensor(zeros: [rows, dim])
    Profile.start()
    kernels(x, w, y, rows: rows, dim: dim)
    Profile.pass = .backward
    Gemm.matmul(x.data, w.data, y.data, m: rows, n: dim, k: dim)
    let report = Profile.stop()
    XCTAssertEqual(Profile.pass, .forward)
    func row(_ kind: OpKind, _ pass: Pass) -> OpFigures? {
      report.rows.first { $0.kind == kind && $0.pass == pass }?.figures
    }
    let product = 2 * Double(rows * dim * dim)
    XCTAssertEqual(row(.gemm, .forward)?.calls, 2)  // Linear.forward (its inner GEMM not again) + the plain GEMM
    XCTAssertEqual(row(.gemm, .forward)?.flops, 2 * product)
    XCTAssertEqual(row(.gemm, .backward)?.calls, 1)
    XCTAssertEqual(row(.layerNorm, .forward)?.calls, 1)
    XCTAssertEqual(row(.elementwise, .forward)?.calls, 1)  // addInPlace, its inner add not counted again
    XCTAssertEqual(row(.allocation, .forward)?.calls, 2)  // the LayerNorm weight and bias
    XCTAssertEqual(report.flops, 3 * product + 8 * Double(rows * dim))
  }

  /// The rows account for the profiled wall time: kernel-bound work (here GEMMs and LayerNorms back to back)
  /// has at least 90% of its wall time in rows, never more than 100%; CPU time per row counts the workers'.
  func testRowsAccountForTheWallTime() {
    let rows = 384, dim = 384
    let x = Tensor(zeros: [rows, dim]), w = Tensor(zeros: [dim, dim]), y = Tensor(zeros: [rows, dim])
    for i in 0..<(rows * dim) { x.data[i] = Float(i % 7) * 0.1 }
    // Another process taking the core between two kernels lands outside every row: of three profiled runs, the
    // one with the most of its wall in rows is judged.
    let report = (0..<3).map { _ in
      Profile.start()
      for _ in 0..<10 { kernels(x, w, y, rows: rows, dim: dim) }
      return Profile.stop()
    }.max { $0.kernelWall / $0.wall < $1.kernelWall / $1.wall }!
    XCTAssertGreaterThan(report.wall, 0)
    XCTAssertLessThanOrEqual(report.kernelWall, report.wall * (1 + 1e-9))
    XCTAssertGreaterThanOrEqual(
      report.kernelWall, 0.9 * report.wall, "kernels \(report.kernelWall) of \(report.wall) s")
    XCTAssertLessThanOrEqual(report.kernelCPU, report.cpu * (1 + 1e-6) + 1e-6)
    XCTAssertGreaterThan(report.kernelCPU, 0)
    XCTAssertEqual(report.rows.reduce(0) { $0 + $1.figures.calls }, 10 * 4 + 10 * 2)  // 4 kernels + 2 allocations
  }
}
