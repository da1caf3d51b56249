// The NF4 product kernels (Core/Quantization/NF4Matmul.swift) against the fp32 Linear on the dequantized
// weight: the fused few-rows kernel, the row tiles of the forward and the column tiles of the backward, with
// tiles made small so that every path runs several tiles on these small shapes.
import XCTest

@testable import FlrCore
@testable import FlrModel

final class NF4KernelTests: XCTestCase {
  override func tearDown() {
    NF4Tensor.tileFloats = 1 << 18
    NF4Tensor.tileMinimum = 256
    NF4Tensor.kernel = .tiled
  }

  /// [out, in]: rows a multiple of 64 values (every Florence-2 Linear), a multiple of 16 but not of 64 (blocks
  /// straddle weight rows), and neither (the value-by-value expansion), each with an odd row count.
  let shapes = [(99, 192), (37, 48), (33, 200), (20, 8)]

  func layer(out: Int, in inF: Int, seed: UInt64) throws -> (q: NF4LinearLayer, deq: LinearLayer) {
    var rng = SeededRNG(seed: seed)
    let w = Tensor(zeros: [out, inF]), b = Tensor(zeros: [out])
    for i in 0..<w.count { w.data[i] = rng.normal() * 0.05 }
    for i in 0..<b.count { b.data[i] = rng.normal() }
    let q = try NF4LinearLayer(quantizing: LinearLayer(weight: w, bias: b, in: inF, out: out))
    return (q, LinearLayer(weight: q.dequantizedWeight(), bias: b, in: inF, out: out))
  }

  func random(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SeededRNG(seed: seed)
    let t = Tensor(zeros: shape)
    for i in 0..<t.count { t.data[i] = rng.normal() }
    return t
  }

  /// Every value the kernels expand is the reference dequantization's, bit for bit, for any start and length
  /// (the 16-value groups and the value-by-value path).
  func testExpansionIsBitIdenticalToDequantize() throws {
    for (out, inF) in shapes {
      let q = try layer(out: out, in: inF, seed: 1).q.quantized
      var slow = [Float](repeating: 0, count: q.count)
      slow.withUnsafeMutableBufferPointer { q.dequantize(from: 0, count: q.count, into: $0.baseAddress!) }
      for (start, n) in [(0, q.count), (16, 48), (64, 16), (inF, inF), (3, 29), (q.count - 16, 16)] {
        var got = [Float](repeating: .nan, count: n)
        got.withUnsafeMutableBufferPointer { g in q.withView { $0.decode(from: start, count: n, into: g.baseAddress!) }
        }
        XCTAssertEqual(got, Array(slow[start..<(start + n)]), "[\(out), \(inF)] from \(start) count \(n)")
      }
      let w = Tensor(zeros: [out, inF])
      q.expandWhole(into: w.data)
      XCTAssertEqual(w.toArray(), slow, "[\(out), \(inF)] expanded whole")
    }
  }

  /// Forward (1-6 rows fused, more rows tiled) and backward (column tiles) vs the fp32 Linear on the
  /// dequantized weight: the same products summed in another order, 1e-5 relative (fp32 sums of at most 200
  /// terms: a few ulps of the largest partial sum).
  func testProductsEqualDequantizedLinear() throws {
    (NF4Tensor.tileFloats, NF4Tensor.tileMinimum) = (1024, 16)  // several tiles even for these small weights
    for (out, inF) in shapes {
      let (q, deq) = try layer(out: out, in: inF, seed: UInt64(out))
      for rows in [1, 2, 3, 4, 5, 6, 7, 40] {
        let x = random([rows, inF], seed: UInt64(rows)), dout = random([rows, out], seed: UInt64(rows + 100))
        let what = "[\(out), \(inF)] rows \(rows)"
        XCTAssertLessThan(relativeError(q.forward(x), deq.forward(x)), 1e-5, what)
        XCTAssertLessThan(
          relativeError(q.backward(dout: dout, input: x), deq.backward(dout: dout, input: x)), 1e-5, what)
      }
    }
    // A layer without bias (the q/k/v of some models have none): the fused path's bias-free branch.
    var rng = SeededRNG(seed: 9)
    let w = Tensor(zeros: [64, 96])
    for i in 0..<w.count { w.data[i] = rng.normal() }
    let q = try NF4LinearLayer(quantizing: LinearLayer(weight: w, bias: nil, in: 96, out: 64))
    let deq = LinearLayer(weight: q.dequantizedWeight(), bias: nil, in: 96, out: 64)
    let x = random([2, 96], seed: 5)
    XCTAssertLessThan(relativeError(q.forward(x), deq.forward(x)), 1e-5)
  }

  /// The new kernels against the first implementation (the whole weight expanded per call).
  func testProductsEqualWholeExpansion() throws {
    (NF4Tensor.tileFloats, NF4Tensor.tileMinimum) = (1024, 16)
    let (q, _) = try layer(out: 99, in: 192, seed: 4)
    for rows in [3, 40] {
      let x = random([rows, 192], seed: 11), dout = random([rows, 99], seed: 12)
      let (y, dx) = (q.forward(x), q.backward(dout: dout, input: x))
      NF4Tensor.kernel = .expandWhole
      let (y0, dx0) = (q.forward(x), q.backward(dout: dout, input: x))
      NF4Tensor.kernel = .tiled
      XCTAssertLessThan(relativeError(y, y0), 1e-5, "rows \(rows)")
      XCTAssertLessThan(relativeError(dx, dx0), 1e-5, "rows \(rows)")
    }
  }
}
