// The input-gradient kernels that can write their result instead of adding into it (`accumulate: false`), so a
// layer's backward need not zero its fresh gradient buffer first: over a buffer full of NaN, writing gives the
// same bits as adding into zeros.
import XCTest

@testable import FlrCore

final class OverwritingBackwardTests: XCTestCase {
  /// `count` NaNs: anything read from it before being written shows in the result.
  func poisoned(_ shape: [Int]) -> Tensor {
    let t = Tensor(uninitialized: shape)
    t.data.update(repeating: .nan, count: t.count)
    return t
  }

  func testLinearInputGradient() {
    var data = TestData(seed: 40)
    // 70 rows: sgemm; 5 rows: the few-rows path.
    for rows in [70, 5] {
      let inF = 48, outF = 40
      let x = data.tensor([rows, inF]), w = data.tensor([outF, inF]), dy = data.tensor([rows, outF])
      let added = Tensor(zeros: [rows, inF]), written = poisoned([rows, inF])
      for (dinp, accumulate) in [(added, true), (written, false)] {
        Linear.backward(
          dinp: dinp.data, dweight: nil, dbias: nil, dout: dy.data, inp: x.data, weight: w.data, rows: rows,
          inFeatures: inF, outFeatures: outF, accumulate: accumulate)
      }
      XCTAssertEqual(written.toArray(), added.toArray(), "\(rows) rows")
    }
  }

  func testLayerNormInputGradient() {
    var data = TestData(seed: 41)
    let rows = 300, dim = 37  // SIMD blocks and a tail, split over the workers
    let x = data.tensor([rows, dim]), w = data.tensor([dim]), b = data.tensor([dim]), dy = data.tensor([rows, dim])
    let y = Tensor(zeros: [rows, dim]), mean = Tensor(zeros: [rows]), rstd = Tensor(zeros: [rows])
    LayerNorm.forward(
      out: y.data, mean: mean.data, rstd: rstd.data, inp: x.data, weight: w.data, bias: b.data, rows: rows, dim: dim,
      eps: 1e-5)
    let added = Tensor(zeros: [rows, dim]), written = poisoned([rows, dim])
    for (dinp, accumulate) in [(added, true), (written, false)] {
      LayerNorm.backward(
        dinp: dinp.data, dweight: nil, dbias: nil, dout: dy.data, inp: x.data, mean: mean.data, rstd: rstd.data,
        weight: w.data, rows: rows, dim: dim, accumulate: accumulate)
    }
    XCTAssertEqual(written.toArray(), added.toArray())
  }

  func testDepthwiseConvInputGradient() {
    var data = TestData(seed: 42)
    let (b, h, wd, c) = (2, 5, 6, 19)  // SIMD blocks and a tail; every border case of the 3x3 window
    let dy = data.tensor([b, h, wd, c]), w = data.tensor([c, 1, 3, 3])
    let added = Tensor(zeros: dy.shape), written = poisoned(dy.shape)
    for (dinp, accumulate) in [(added, true), (written, false)] {
      DepthwiseConv2d.backward(
        dinp: dinp.data, dweight: nil, dbias: nil, dout: dy.data, inp: dy.data, weight: w.data, batch: b, height: h,
        width: wd, channels: c, kernel: 3, accumulate: accumulate)
    }
    XCTAssertEqual(written.toArray(), added.toArray())
  }
}
