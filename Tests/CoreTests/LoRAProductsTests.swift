// LoRAProducts (a LoRA adapter's products on a Linear's input, dropout applied on the fly) against a double-precision
// reference with the same mask, for ranks below, at and above one group of four and widths that are not whole SIMD
// steps; the drawn mask against the same mask given explicitly; results that do not depend on the thread count; and
// the drawn masks' statistics. fp32 sums of at most a few hundred products: 1e-5 relative to the largest value.
import XCTest

@testable import FlrCore

final class LoRAProductsTests: XCTestCase {
  struct Problem {
    let rows: Int, k: Int, n: Int, r: Int
    let scaling: Float = 0.75
    let x: Tensor, a: Tensor, b: Tensor, y: Tensor, dout: Tensor

    init(rows: Int, k: Int, n: Int, r: Int, seed: UInt64) {
      (self.rows, self.k, self.n, self.r) = (rows, k, n, r)
      var data = TestData(seed: seed)
      x = data.tensor([rows, k])
      a = data.tensor([r, k])
      b = data.tensor([n, r])
      y = data.tensor([rows, n])
      dout = data.tensor([rows, n])
    }

    /// (y + s·B·A·(x⊙m), down, gradA, gradB, dinput) in double; mask nil = all ones.
    func reference(mask: [Double]?) -> (y: [Double], down: [Double], gradA: [Double], gradB: [Double], dx: [Double]) {
      let x = x.doubles, a = a.doubles, b = b.doubles, g = dout.doubles, s = Double(scaling)
      let m = mask ?? [Double](repeating: 1, count: rows * k)
      var y = self.y.doubles, down = [Double](repeating: 0, count: rows * r)
      var gradA = [Double](repeating: 0, count: r * k), gradB = [Double](repeating: 0, count: n * r)
      var dx = [Double](repeating: 0, count: rows * k)
      for i in 0..<rows {
        for c in 0..<r {
          for j in 0..<k { down[i * r + c] += x[i * k + j] * m[i * k + j] * a[c * k + j] }
        }
        for o in 0..<n {
          for c in 0..<r { y[i * n + o] += s * down[i * r + c] * b[o * r + c] }
        }
        var ddown = [Double](repeating: 0, count: r)
        for c in 0..<r {
          for o in 0..<n {
            ddown[c] += s * g[i * n + o] * b[o * r + c]
            gradB[o * r + c] += s * g[i * n + o] * down[i * r + c]
          }
          for j in 0..<k {
            gradA[c * k + j] += ddown[c] * x[i * k + j] * m[i * k + j]
            dx[i * k + j] += m[i * k + j] * ddown[c] * a[c * k + j]
          }
        }
      }
      return (y, down, gradA, gradB, dx)
    }

    /// The kernels' (y, down, gradA, gradB, dinput), gradA and gradB accumulated onto ones and dinput onto twos.
    func run(_ mask: InputMask) -> (y: Tensor, down: Tensor, gradA: Tensor, gradB: Tensor, dx: Tensor) {
      let y = self.y.copy(), down = Tensor(zeros: [rows, r])
      let gradA = Tensor(zeros: [r, k]), gradB = Tensor(zeros: [n, r]), dx = Tensor(zeros: [rows, k])
      gradA.fill(1)
      gradB.fill(1)
      dx.fill(2)
      LoRAProducts.forward(
        x: x.data, a: a.data, b: b.data, y: y.data, down: down.data, rows: rows, inFeatures: k, outFeatures: n,
        rank: r, scaling: scaling, mask: mask)
      LoRAProducts.backward(
        dout: dout.data, x: x.data, a: a.data, b: b.data, down: down.data, gradA: gradA.data, gradB: gradB.data,
        dinput: dx.data, rows: rows, inFeatures: k, outFeatures: n, rank: r, scaling: scaling, mask: mask)
      return (y, down, gradA, gradB, dx)
    }
  }

  func assertMatches(_ p: Problem, _ mask: InputMask, _ values: [Double]?, _ what: String) {
    let got = p.run(mask), want = p.reference(mask: values)
    func check(_ t: Tensor, _ w: [Double], offset: Double, _ label: String) {
      let scale = w.map(abs).max() ?? 1
      assertClose(t.toArray(), w.map { $0 + offset }, rtol: 1e-5, atol: 1e-5 * scale, "\(what) \(label)")
    }
    check(got.y, want.y, offset: 0, "y")
    check(got.down, want.down, offset: 0, "down")
    check(got.gradA, want.gradA, offset: 1, "gradA")
    check(got.gradB, want.gradB, offset: 1, "gradB")
    check(got.dx, want.dx, offset: 2, "dinput")
  }

  let shapes = [
    (rows: 7, k: 21, n: 9, r: 1), (rows: 40, k: 48, n: 35, r: 3), (rows: 300, k: 37, n: 16, r: 4),
    (rows: 9, k: 100, n: 70, r: 6), (rows: 3, k: 5, n: 4, r: 9),
  ]

  func testWithoutMaskAgainstReference() {
    for (i, s) in shapes.enumerated() {
      assertMatches(Problem(rows: s.rows, k: s.k, n: s.n, r: s.r, seed: UInt64(i)), .none, nil, "\(s)")
    }
  }

  func testGivenMaskAgainstReference() {
    for (i, s) in shapes.enumerated() {
      let mask = Tensor(zeros: [s.rows, s.k])
      for j in 0..<mask.count { mask.data[j] = j % 3 == 1 ? 0 : 1.5 }
      assertMatches(Problem(rows: s.rows, k: s.k, n: s.n, r: s.r, seed: UInt64(i)), .given(mask), mask.doubles, "\(s)")
    }
  }

  /// A drawn mask is the one `DropoutStream.fill` writes: the kernels give the same bits with it given explicitly.
  func testDrawnMaskIsTheFilledOne() {
    for (i, s) in shapes.enumerated() {
      let p = Problem(rows: s.rows, k: s.k, n: s.n, r: s.r, seed: UInt64(i))
      let stream = DropoutStream(seed: 99 + UInt64(i), p: 0.3)
      let mask = Tensor(zeros: [s.rows, s.k])
      stream.fill(mask.data, rows: s.rows, cols: s.k)
      assertMatches(p, .drawn(stream), mask.doubles, "\(s) drawn")
      let drawn = p.run(.drawn(stream)), given = p.run(.given(mask))
      for (d, g) in [(drawn.y, given.y), (drawn.gradA, given.gradA), (drawn.gradB, given.gradB), (drawn.dx, given.dx)] {
        XCTAssertEqual(d.toArray(), g.toArray(), "\(s)")
      }
    }
  }

  /// Masks and sums come out bit for bit the same on one thread and on three (blocks of rows, fixed stripes).
  func testSameBitsOnAnyThreadCount() {
    let saved = Threads.count
    defer { Threads.count = saved }
    let p = Problem(rows: 700, k: 200, n: 96, r: 4, seed: 7)  // 18 blocks of 40 rows
    let stream = DropoutStream(seed: 5, p: 0.25)
    func everything() -> [[Float]] {
      let mask = Tensor(zeros: [p.rows, p.k])
      stream.fill(mask.data, rows: p.rows, cols: p.k)
      let got = p.run(.drawn(stream))
      return [mask, got.y, got.down, got.gradA, got.gradB, got.dx].map { $0.toArray() }
    }
    Threads.count = 1
    let one = everything()
    Threads.count = 3
    XCTAssertEqual(everything(), one)
  }

  /// Drops about p of the entries, keeps the rest scaled by 1/(1-p), and draws new masks for another seed.
  func testDrawnMaskStatistics() {
    let (rows, cols) = (500, 300)
    for p: Float in [0.1, 0.25, 0.5] {
      let mask = Tensor(zeros: [rows, cols]), other = Tensor(zeros: [rows, cols])
      DropoutStream(seed: 1, p: p).fill(mask.data, rows: rows, cols: cols)
      DropoutStream(seed: 2, p: p).fill(other.data, rows: rows, cols: cols)
      let values = mask.toArray()
      XCTAssertEqual(Set(values), [0, 1 / (1 - p)])
      let dropped = Double(values.filter { $0 == 0 }.count) / Double(values.count)
      XCTAssertEqual(dropped, Double(p), accuracy: 0.005, "p \(p)")  // 150000 draws: σ ≤ 0.0013
      // Each column and each row of blocks drops its share too (no lane or block stuck).
      for j in [0, 7, 15, 16, 299] {
        let column = (0..<rows).filter { values[$0 * cols + j] == 0 }.count
        XCTAssertEqual(Double(column) / Double(rows), Double(p), accuracy: 0.1, "p \(p) column \(j)")
      }
      XCTAssertNotEqual(values, other.toArray())
    }
    let none = Tensor(zeros: [3, 40]), all = Tensor(zeros: [3, 40])
    DropoutStream(seed: 1, p: 0).fill(none.data, rows: 3, cols: 40)
    DropoutStream(seed: 1, p: 1).fill(all.data, rows: 3, cols: 40)
    XCTAssertEqual(Set(none.toArray()), [1])
    XCTAssertEqual(Set(all.toArray()), [0])
  }
}
