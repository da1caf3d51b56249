import XCTest

@testable import FlrCore

final class GemmTests: XCTestCase {
  /// Every transpose combination, alpha/beta, padded leading dimensions, the sgemv path (m ≤ 3) and sgemm.
  func testMatmulMatchesReference() {
    var data = TestData(seed: 1)
    for m in [1, 3, 5, 12, 17, 40] {  // 1: sgemv; 3, 5, 12: one weight pass for all rows; 17, 40: sgemm
      for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
        let n = 13, k = 19, pad = 3
        let lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad
        let a = data.tensor([(transA ? k : m) * lda])
        let b = data.tensor([(transB ? n : k) * ldb])
        let c = data.tensor([m * ldc])
        let c0 = c.doubles
        Gemm.matmul(
          a.data, b.data, c.data, m: m, n: n, k: k, transA: transA, transB: transB, alpha: 0.5, beta: 2,
          lda: lda, ldb: ldb, ldc: ldc)
        // Dense copies of op(A), op(B) for the reference.
        let ad = (0..<(m * k)).map { i -> Double in
          let (r, p) = (i / k, i % k)
          return a.doubles[transA ? p * lda + r : r * lda + p]
        }
        let bd = (0..<(k * n)).map { i -> Double in
          let (p, j) = (i / n, i % n)
          return b.doubles[transB ? j * ldb + p : p * ldb + j]
        }
        let prod = Ref.matmul(ad, bd, m: m, n: n, k: k)
        var want = c0
        for i in 0..<m { for j in 0..<n { want[i * ldc + j] = 0.5 * prod[i * n + j] + 2 * c0[i * ldc + j] } }
        assertForward(c, want, "matmul m=\(m) transA=\(transA) transB=\(transB)")
      }
    }
  }

  /// The same products split into row/column blocks over workers (threshold lowered so small ones split),
  /// and with OpenBLAS owning the threads instead.
  /// Decoding rows (images x beams, up to Gemm.gemvRowLimit) against a weight: each row's result is the same to
  /// the bit whichever rows it is computed with and wherever it sits among them, so a batch of 4 beam-3
  /// captions (12 rows) decodes each image exactly as it decodes alone (3 rows). n = 37, k = 45: weight rows
  /// past the tiles of four and a sum tail past the SIMD width.
  func testFewRowsDoNotDependOnTheOtherRows() {
    var data = TestData(seed: 7)
    let n = 37, k = 45, rows = 12
    XCTAssertGreaterThanOrEqual(Gemm.gemvRowLimit, rows)
    let x = data.tensor([rows, k]), w = data.tensor([n, k])
    let all = Tensor(zeros: [rows, n])
    Gemm.matmul(x.data, w.data, all.data, m: rows, n: n, k: k, transB: true)
    for picked in [[0, 1, 2], [3, 4, 5], [11, 0, 6], [9, 10], [7, 8, 9, 10, 11]] {
      let some = Tensor(zeros: [picked.count, k]), out = Tensor(zeros: [picked.count, n])
      for (i, r) in picked.enumerated() { (some.data + i * k).update(from: x.data + r * k, count: k) }
      Gemm.matmul(some.data, w.data, out.data, m: picked.count, n: n, k: k, transB: true)
      for (i, r) in picked.enumerated() {
        XCTAssertEqual(
          Array(UnsafeBufferPointer(start: out.data + i * n, count: n)),
          Array(UnsafeBufferPointer(start: all.data + r * n, count: n)), "row \(r) among \(picked)")
      }
    }
  }

  func testSplitAndOpenBLASThreadingMatch() {
    let (savedCount, savedThreshold, savedMode) = (Threads.count, Gemm.splitThreshold, Threads.gemmThreading)
    defer { (Threads.count, Gemm.splitThreshold, Threads.gemmThreading) = (savedCount, savedThreshold, savedMode) }
    Threads.count = 3
    Gemm.splitThreshold = 0
    testMatmulMatchesReference()
    testLinearForwardAndBackward()
    Threads.gemmThreading = .openBLAS
    testMatmulMatchesReference()
    testBatchedMatmul()
  }

  func testBetaZeroClearsGarbage() {
    var data = TestData(seed: 2)
    for m in [1, 8] {
      let a = data.tensor([m, 4]), b = data.tensor([4, 5])
      let c = Tensor(zeros: [m, 5])
      c.fill(.nan)
      Gemm.matmul(a.data, b.data, c.data, m: m, n: 5, k: 4)
      assertForward(c, Ref.matmul(a.doubles, b.doubles, m: m, n: 5, k: 4), "beta 0 over NaN, m=\(m)")
    }
  }

  func testBatchedMatmul() {
    var data = TestData(seed: 3)
    let batch = 5, m = 6, n = 7, k = 8
    let a = data.tensor([batch, m, k]), b = data.tensor([batch, n, k]), c = Tensor(zeros: [batch, m, n])
    Gemm.batchedMatmul(
      a.data, b.data, c.data, m: m, n: n, k: k, batch: batch, strideA: m * k, strideB: n * k, strideC: m * n,
      transB: true)
    var want: [Double] = []
    for i in 0..<batch {
      want += Ref.matmul(
        Array(a.doubles[(i * m * k)..<((i + 1) * m * k)]), Array(b.doubles[(i * n * k)..<((i + 1) * n * k)]),
        m: m, n: n, k: k, transB: true)
    }
    assertForward(c, want, "batched")
  }

  func testLinearForwardAndBackward() {
    var data = TestData(seed: 4)
    for (rows, bias) in [(1, true), (2, false), (9, true)] {
      let inF = 11, outF = 7
      let x = data.tensor([rows, inF]), w = data.tensor([outF, inF]), b = data.tensor([outF])
      let y = Tensor(zeros: [rows, outF])
      Linear.forward(
        out: y.data, inp: x.data, weight: w.data, bias: bias ? b.data : nil, rows: rows, inFeatures: inF,
        outFeatures: outF)
      func reference(_ v: [[Double]]) -> [Double] {
        var out = Ref.matmul(v[0], v[1], m: rows, n: outF, k: inF, transB: true)
        if bias { for r in 0..<rows { for j in 0..<outF { out[r * outF + j] += v[2][j] } } }
        return out
      }
      assertForward(y, reference([x.doubles, w.doubles, b.doubles]), "linear rows=\(rows)")
      checkGradients(
        "linear rows=\(rows)", inputs: [x, w, b], outputCount: rows * outF, skip: bias ? [] : [2],
        reference: reference
      ) { dout, g in
        Linear.backward(
          dinp: g[0].data, dweight: g[1].data, dbias: bias ? g[2].data : nil, dout: dout.data, inp: x.data,
          weight: w.data, rows: rows, inFeatures: inF, outFeatures: outF)
      }
    }
  }

  /// Optional gradients: nil pointers are skipped and the others still computed.
  func testLinearBackwardOnlyInput() {
    var data = TestData(seed: 5)
    let x = data.tensor([4, 3]), w = data.tensor([2, 3])
    checkGradients(
      "linear dinp only", inputs: [x, w], outputCount: 8, skip: [1],
      reference: { Ref.matmul($0[0], $0[1], m: 4, n: 2, k: 3, transB: true) }
    ) { dout, g in
      Linear.backward(
        dinp: g[0].data, dweight: nil, dbias: nil, dout: dout.data, inp: x.data, weight: w.data,
        rows: 4, inFeatures: 3, outFeatures: 2)
    }
  }

  /// matmulBlocks: the blocks tile C exactly once (row blocks for tall C, column blocks for wide C), each
  /// `before` runs ahead of its block's product (a value written there is added to with beta 1) and each
  /// `after` behind it (it sees the finished product), on many small blocks over 3 workers, on one thread,
  /// and with OpenBLAS owning the threads.
  func testBlocksTileCAndRunTheirBodiesInOrder() {
    let saved = (Threads.count, Gemm.splitThreshold, Gemm.chunkRows, Threads.gemmThreading)
    defer { (Threads.count, Gemm.splitThreshold, Gemm.chunkRows, Threads.gemmThreading) = saved }
    Gemm.splitThreshold = 0
    Gemm.chunkRows = 4
    var data = TestData(seed: 6)
    for (threads, mode) in [(3, Threads.GemmThreading.split), (1, .split), (2, .openBLAS)] {
      Threads.count = threads
      Threads.gemmThreading = mode
      for (m, n) in [(37, 9), (7, 40), (3, 5)] {  // row blocks; column blocks; the few-rows path
        let k = 6
        let a = data.tensor([m, k]), b = data.tensor([n, k]), c = Tensor(zeros: [m, n])
        let visits = Tensor(zeros: [m, n])  // blocks never overlap, so unsynchronised counting is safe
        Gemm.matmulBlocks(
          a.data, b.data, c.data, m: m, n: n, k: k, transB: true, beta: 1,
          before: { rows, cols in
            for i in rows { for j in cols { c.data[i * n + j] = Float(j) } }
          },
          after: { rows, cols in
            for i in rows {
              for j in cols {
                c.data[i * n + j] *= 2
                visits.data[i * n + j] += 1
              }
            }
          })
        let prod = Ref.matmul(a.doubles, b.doubles, m: m, n: n, k: k, transB: true)
        let want = (0..<(m * n)).map { 2 * (prod[$0] + Double($0 % n)) }
        assertForward(c, want, "blocks m=\(m) n=\(n) threads=\(threads) \(mode)")
        XCTAssertEqual(visits.toArray(), [Float](repeating: 1, count: m * n), "each element in exactly one block")
      }
    }
  }

  /// Linear with the GELU epilogue equals gelu(x·Wᵀ + b), whole and cut into blocks over workers.
  func testLinearGeluEpilogue() {
    let saved = (Threads.count, Gemm.splitThreshold, Gemm.chunkRows)
    defer { (Threads.count, Gemm.splitThreshold, Gemm.chunkRows) = saved }
    var data = TestData(seed: 7)
    for (threads, chunkRows) in [(1, 1024), (3, 4)] {
      (Threads.count, Gemm.splitThreshold, Gemm.chunkRows) = (threads, 0, chunkRows)
      for (rows, inF, outF, bias) in [(33, 5, 8, true), (33, 5, 8, false), (4, 7, 40, true), (1, 6, 9, true)] {
        let x = data.tensor([rows, inF]), w = data.tensor([outF, inF]), b = data.tensor([outF])
        let y = Tensor(zeros: [rows, outF])
        Linear.forward(
          out: y.data, inp: x.data, weight: w.data, bias: bias ? b.data : nil, rows: rows, inFeatures: inF,
          outFeatures: outF, activation: .gelu)
        var pre = Ref.matmul(x.doubles, w.doubles, m: rows, n: outF, k: inF, transB: true)
        if bias { for i in pre.indices { pre[i] += b.doubles[i % outF] } }
        assertForward(y, Ref.gelu(pre), "linear+gelu rows=\(rows) outF=\(outF) bias=\(bias) threads=\(threads)")
      }
    }
  }
}
