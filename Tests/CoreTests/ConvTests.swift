import XCTest

@testable import FlrCore

final class ConvTests: XCTestCase {
  struct Case { let B, H, W, cin, cout, k, s, p: Int }
  // DaViT's patch convs: 7x7 stride 4 pad 3 from RGB, and 3x3 stride 2 pad 1 between stages.
  let cases = [
    Case(B: 1, H: 13, W: 11, cin: 3, cout: 4, k: 7, s: 4, p: 3),
    Case(B: 2, H: 6, W: 5, cin: 5, cout: 4, k: 3, s: 2, p: 1),
    Case(B: 1, H: 5, W: 4, cin: 17, cout: 3, k: 3, s: 2, p: 1),  // ≥ 16 channels: the other im2col loop
  ]

  func testForwardMatchesReference() {
    var data = TestData(seed: 10)
    for c in cases {
      let ho = Conv2d.outputSize(c.H, kernel: c.k, stride: c.s, padding: c.p)
      let wo = Conv2d.outputSize(c.W, kernel: c.k, stride: c.s, padding: c.p)
      let x = data.tensor([c.B, c.H, c.W, c.cin]), w = data.tensor([c.cout, c.cin, c.k, c.k]), b = data.tensor([c.cout])
      let y = Tensor(zeros: [c.B, ho, wo, c.cout])
      Conv2d.forward(
        out: y.data, inp: x.data, weight: w.data, bias: b.data, batch: c.B, height: c.H, width: c.W,
        inChannels: c.cin, outChannels: c.cout, kernel: c.k, stride: c.s, padding: c.p)
      let want = Ref.conv2d(
        x.doubles, w.doubles, b.doubles, B: c.B, H: c.H, W: c.W, cin: c.cin, cout: c.cout, k: c.k, s: c.s, p: c.p)
      assertForward(y, want, "conv k\(c.k) s\(c.s)")
    }
  }

  /// Output pixels processed in several im2col chunks give the same result as one.
  func testChunkedIm2colMatches() {
    let saved = Conv2d.chunkFloats
    defer { Conv2d.chunkFloats = saved }
    Conv2d.chunkFloats = 3 * 45  // three output pixels of the 3x3x5 case per chunk
    testForwardMatchesReference()
    testBackwardMatchesFiniteDifferences()
  }

  /// im2col built per block of output pixels by the worker multiplying it (row blocks), and up front when C
  /// is cut into column blocks (more output channels than pixels).
  func testBlockedIm2colMatches() {
    let saved = (Threads.count, Gemm.splitThreshold, Gemm.chunkRows)
    defer { (Threads.count, Gemm.splitThreshold, Gemm.chunkRows) = saved }
    (Threads.count, Gemm.splitThreshold, Gemm.chunkRows) = (3, 0, 2)
    testForwardMatchesReference()
    var data = TestData(seed: 12)
    let c = Case(B: 1, H: 5, W: 5, cin: 2, cout: 40, k: 3, s: 2, p: 1)  // 9 pixels, 40 channels
    let x = data.tensor([1, c.H, c.W, c.cin]), w = data.tensor([c.cout, c.cin, 3, 3]), b = data.tensor([c.cout])
    let y = Tensor(zeros: [1, 3, 3, c.cout])
    Conv2d.forward(
      out: y.data, inp: x.data, weight: w.data, bias: b.data, batch: 1, height: c.H, width: c.W, inChannels: c.cin,
      outChannels: c.cout, kernel: 3, stride: 2, padding: 1)
    let want = Ref.conv2d(
      x.doubles, w.doubles, b.doubles, B: 1, H: c.H, W: c.W, cin: c.cin, cout: c.cout, k: 3, s: 2, p: 1)
    assertForward(y, want, "conv column blocks")
  }

  func testBackwardMatchesFiniteDifferences() {
    var data = TestData(seed: 11)
    for c in cases {
      let ho = Conv2d.outputSize(c.H, kernel: c.k, stride: c.s, padding: c.p)
      let wo = Conv2d.outputSize(c.W, kernel: c.k, stride: c.s, padding: c.p)
      let x = data.tensor([c.B, c.H, c.W, c.cin]), w = data.tensor([c.cout, c.cin, c.k, c.k]), b = data.tensor([c.cout])
      checkGradients(
        "conv k\(c.k) s\(c.s)", inputs: [x, w, b], outputCount: c.B * ho * wo * c.cout,
        reference: {
          Ref.conv2d($0[0], $0[1], $0[2], B: c.B, H: c.H, W: c.W, cin: c.cin, cout: c.cout, k: c.k, s: c.s, p: c.p)
        }
      ) { dout, g in
        Conv2d.backward(
          dinp: g[0].data, dweight: g[1].data, dbias: g[2].data, dout: dout.data, inp: x.data, weight: w.data,
          batch: c.B, height: c.H, width: c.W, inChannels: c.cin, outChannels: c.cout, kernel: c.k, stride: c.s,
          padding: c.p)
      }
    }
  }

  /// The input gradient's scatter split over workers by channel is bitwise the one-thread scatter.
  func testInputGradientSplitByChannelMatchesOneThread() {
    var data = TestData(seed: 13)
    let c = Case(B: 2, H: 7, W: 6, cin: 40, cout: 8, k: 3, s: 2, p: 1)
    let ho = Conv2d.outputSize(c.H, kernel: c.k, stride: c.s, padding: c.p)
    let wo = Conv2d.outputSize(c.W, kernel: c.k, stride: c.s, padding: c.p)
    let x = data.tensor([c.B, c.H, c.W, c.cin]), w = data.tensor([c.cout, c.cin, c.k, c.k])
    let dout = data.tensor([c.B, ho, wo, c.cout])
    let saved = Threads.count
    defer { Threads.count = saved }
    let results = [1, 3].map { threads in
      Threads.count = threads
      let dx = Tensor(zeros: x.shape)
      Conv2d.backward(
        dinp: dx.data, dweight: nil, dbias: nil, dout: dout.data, inp: x.data, weight: w.data, batch: c.B,
        height: c.H, width: c.W, inChannels: c.cin, outChannels: c.cout, kernel: c.k, stride: c.s, padding: c.p)
      return dx.toArray()
    }
    XCTAssertEqual(results[1], results[0])
    XCTAssertTrue(results[0].contains { $0 != 0 })
  }

  func testDepthwiseForwardAndBackward() {
    var data = TestData(seed: 12)
    // C = 18: one full SIMD16 block plus a 2-channel tail.
    let B = 2, H = 4, W = 5, C = 18, k = 3
    let x = data.tensor([B, H, W, C]), w = data.tensor([C, 1, k, k]), b = data.tensor([C])
    func reference(_ v: [[Double]]) -> [Double] {
      var out = [Double](repeating: 0, count: B * H * W * C)
      for bi in 0..<B {
        for y in 0..<H {
          for x in 0..<W {
            for c in 0..<C {
              var acc = v[2][c]
              for ky in 0..<k {
                for kx in 0..<k {
                  let iy = y + ky - k / 2, ix = x + kx - k / 2
                  if iy < 0 || iy >= H || ix < 0 || ix >= W { continue }
                  acc += v[0][((bi * H + iy) * W + ix) * C + c] * v[1][(c * k + ky) * k + kx]
                }
              }
              out[((bi * H + y) * W + x) * C + c] = acc
            }
          }
        }
      }
      return out
    }
    let y = Tensor(zeros: [B, H, W, C])
    DepthwiseConv2d.forward(
      out: y.data, inp: x.data, weight: w.data, bias: b.data, batch: B, height: H, width: W, channels: C)
    assertForward(y, reference([x.doubles, w.doubles, b.doubles]), "depthwise")
    checkGradients("depthwise", inputs: [x, w, b], outputCount: B * H * W * C, reference: reference) { dout, g in
      DepthwiseConv2d.backward(
        dinp: g[0].data, dweight: g[1].data, dbias: g[2].data, dout: dout.data, inp: x.data, weight: w.data,
        batch: B, height: H, width: W, channels: C)
    }
  }
}
