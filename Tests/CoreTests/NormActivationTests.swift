import Foundation
import XCTest

@testable import FlrCore

final class NormActivationTests: XCTestCase {
  func testLayerNorm() {
    var data = TestData(seed: 20)
    // dim 37: SIMD blocks plus a tail; an offset of 3 checks the two-pass variance.
    let rows = 3, dim = 37, eps: Float = 1e-5
    let x = Tensor(shape: [rows, dim], values: data.floats(rows * dim).map { $0 + 3 })
    let w = data.tensor([dim]), b = data.tensor([dim])
    let y = Tensor(zeros: [rows, dim]), mean = Tensor(zeros: [rows]), rstd = Tensor(zeros: [rows])
    LayerNorm.forward(
      out: y.data, mean: mean.data, rstd: rstd.data, inp: x.data, weight: w.data, bias: b.data, rows: rows, dim: dim,
      eps: eps)
    let reference = { (v: [[Double]]) in Ref.layerNorm(v[0], v[1], v[2], rows: rows, dim: dim, eps: Double(eps)) }
    assertForward(y, reference([x.doubles, w.doubles, b.doubles]), "layernorm")
    checkGradients("layernorm", inputs: [x, w, b], outputCount: rows * dim, reference: reference) { dout, g in
      LayerNorm.backward(
        dinp: g[0].data, dweight: g[1].data, dbias: g[2].data, dout: dout.data, inp: x.data, mean: mean.data,
        rstd: rstd.data, weight: w.data, rows: rows, dim: dim)
    }
  }

  /// Many rows so the work is split over threads (per-worker partial sums for dweight).
  func testLayerNormManyRows() {
    var data = TestData(seed: 21)
    let rows = 300, dim = 32
    let x = data.tensor([rows, dim]), w = data.tensor([dim]), b = data.tensor([dim])
    let y = Tensor(zeros: [rows, dim])
    LayerNorm.forward(
      out: y.data, mean: nil, rstd: nil, inp: x.data, weight: w.data, bias: b.data, rows: rows, dim: dim, eps: 1e-6)
    assertForward(
      y, Ref.layerNorm(x.doubles, w.doubles, b.doubles, rows: rows, dim: dim, eps: 1e-6), "layernorm 300 rows")
  }

  /// erf/exp approximations against libm in double. erf: absolute 1e-6 (GELU multiplies it by x/2, so
  /// this is ~1e-6 relative on GELU where it is not tiny); exp: 4 float ulps (2.4e-7) relative.
  /// The decoding step's residual add fused into LayerNorm: the bits of addInPlace then forward, the sum kept.
  func testForwardAddingResidualIsAddThenForward() {
    var data = TestData(seed: 22)
    for dim in [1, 15, 16, 37, 768] {
      let rows = 3, eps: Float = 1e-5
      let sum = data.tensor([rows, dim], scale: 2), residual = data.tensor([rows, dim], scale: 3)
      let w = data.tensor([dim]), b = data.tensor([dim])
      let wantSum = Tensor(shape: [rows, dim], values: sum.toArray()), want = Tensor(zeros: [rows, dim])
      Elementwise.addInPlace(wantSum.data, residual.data, count: rows * dim)
      LayerNorm.forward(
        out: want.data, mean: nil, rstd: nil, inp: wantSum.data, weight: w.data, bias: b.data, rows: rows, dim: dim,
        eps: eps)
      let got = Tensor(zeros: [rows, dim])
      LayerNorm.forwardAddingResidual(
        out: got.data, sum: sum.data, residual: residual.data, weight: w.data, bias: b.data, rows: rows, dim: dim,
        eps: eps)
      XCTAssertEqual(got.toArray().map(\.bitPattern), want.toArray().map(\.bitPattern), "out dim \(dim)")
      XCTAssertEqual(sum.toArray().map(\.bitPattern), wantSum.toArray().map(\.bitPattern), "sum dim \(dim)")
    }
  }

  func testVectorMath() {
    let xs = stride(from: -9.0, through: 9.0, by: 0.0137).map { Float($0) }
    for x in xs {
      XCTAssertEqual(Double(erf1(x)), erf(Double(x)), accuracy: 1e-6, "erf(\(x))")
    }
    for x in stride(from: -87.0, through: 88.0, by: 0.0731).map({ Float($0) }) {
      let want = exp(Double(x))
      XCTAssertEqual(Double(exp1(x)), want, accuracy: 2.4e-7 * want, "exp(\(x))")
    }
    XCTAssertEqual(exp1(-.infinity), 0)
    XCTAssertEqual(exp1(-100), 0)
  }

  func testGelu() {
    // 1003 points on [-8, 8]: SIMD body plus a tail. GELU is compared with an absolute tolerance of
    // 1e-6·max(1,|x|) (erf's float accuracy times x/2, see testVectorMath) plus 1e-5 relative.
    let n = 1003
    let x = Tensor(shape: [n], values: (0..<n).map { Float(-8 + 16 * Double($0) / Double(n - 1)) })
    let y = Tensor(zeros: [n])
    Gelu.forward(out: y.data, inp: x.data, count: n)
    let want = Ref.gelu(x.doubles)
    let got = y.toArray()
    for i in 0..<n {
      XCTAssertEqual(
        Double(got[i]), want[i], accuracy: 1e-6 * max(1, abs(x.doubles[i])) + 1e-5 * abs(want[i]),
        "gelu(\(x.doubles[i]))")
    }
    var data = TestData(seed: 22)
    let small = data.tensor([37], scale: 3)
    checkGradients("gelu", inputs: [small], outputCount: 37, reference: { Ref.gelu($0[0]) }) { dout, g in
      Gelu.backward(dinp: g[0].data, dout: dout.data, inp: small.data, count: 37)
    }
  }

  /// accumulate false writes the gradient over whatever dinp held: bitwise += onto zeros.
  func testGeluBackwardOverwrites() {
    var data = TestData(seed: 24)
    let n = 41  // SIMD body plus a tail
    let x = data.tensor([n], scale: 3), dout = data.tensor([n])
    let accumulated = Tensor(zeros: [n]), written = Tensor(zeros: [n])
    written.fill(.nan)
    Gelu.backward(dinp: accumulated.data, dout: dout.data, inp: x.data, count: n)
    Gelu.backward(dinp: written.data, dout: dout.data, inp: x.data, count: n, accumulate: false)
    XCTAssertEqual(written.toArray(), accumulated.toArray())
  }

  func testSoftmaxWithMaskedEntries() {
    var data = TestData(seed: 23)
    let rows = 4, dim = 21
    var values = data.floats(rows * dim, scale: 4)
    values[3] = -.infinity  // a masked entry
    values[dim + 20] = -.infinity
    for j in 0..<dim { values[3 * dim + j] = -.infinity }  // a fully masked row gives zeros
    let x = Tensor(shape: [rows, dim], values: values)
    let y = Tensor(zeros: [rows, dim])
    Softmax.forward(out: y.data, inp: x.data, rows: rows, dim: dim)
    assertForward(y, Ref.softmax(x.doubles, rows: rows, dim: dim), "softmax")
    Softmax.forward(out: x.data, inp: x.data, rows: rows, dim: dim)  // in place
    XCTAssertEqual(x.toArray(), y.toArray())
  }

  func testSoftmaxBackward() {
    var data = TestData(seed: 24)
    let rows = 3, dim = 19
    let x = data.tensor([rows, dim], scale: 3)
    let p = Tensor(zeros: [rows, dim])
    Softmax.forward(out: p.data, inp: x.data, rows: rows, dim: dim)
    checkGradients(
      "softmax", inputs: [x], outputCount: rows * dim, reference: { Ref.softmax($0[0], rows: rows, dim: dim) }
    ) {
      dout, g in
      Softmax.backward(dinp: g[0].data, dout: dout.data, probs: p.data, rows: rows, dim: dim)
    }
  }
}
