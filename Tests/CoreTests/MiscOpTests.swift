import XCTest

@testable import FlrCore

final class MiscOpTests: XCTestCase {
  func testEmbedding() throws {
    var data = TestData(seed: 40)
    let V = 7, dim = 5
    let table = data.tensor([V, dim])
    let ids: [Int32] = [3, 0, 3, 6]
    let out = Tensor(zeros: [ids.count, dim])
    Embedding.forward(out: out.data, table: table.data, ids: ids, dim: dim)
    let t = table.doubles
    assertForward(out, ids.flatMap { Array(t[(Int($0) * dim)..<(Int($0) * dim + dim)]) }, "embedding")
    checkGradients(
      "embedding", inputs: [table], outputCount: ids.count * dim,
      reference: { v in
        ids.flatMap { Array(v[0][(Int($0) * dim)..<(Int($0) * dim + dim)]) }
      }
    ) { dout, g in
      Embedding.backward(dtable: g[0].data, dout: dout.data, ids: ids, dim: dim)
    }
    XCTAssertThrowsError(try Embedding.validate(ids: [1, 7], vocab: V))
    try Embedding.validate(ids: ids, vocab: V)
  }

  func testPermute() {
    var data = TestData(seed: 45)
    let shape = [2, 3, 4, 5]
    let x = data.tensor(shape)
    for axes in [[0, 2, 3, 1], [3, 2, 1, 0], [0, 1, 3, 2], [0, 1, 2, 3]] {
      let y = x.permuted(axes)
      XCTAssertEqual(y.shape, axes.map { shape[$0] })
      // y[i0, i1, i2, i3] = x[j] with j's index along axes[k] equal to i_k
      func reference(_ v: [[Double]]) -> [Double] {
        var out: [Double] = []
        let s = y.shape
        for a in 0..<s[0] {
          for b in 0..<s[1] {
            for c in 0..<s[2] {
              for d in 0..<s[3] {
                var idx = [0, 0, 0, 0]
                for (k, i) in [a, b, c, d].enumerated() { idx[axes[k]] = i }
                out.append(v[0][((idx[0] * shape[1] + idx[1]) * shape[2] + idx[2]) * shape[3] + idx[3]])
              }
            }
          }
        }
        return out
      }
      XCTAssertEqual(y.doubles, reference([x.doubles]), "permute \(axes)")
      checkGradients("permute \(axes)", inputs: [x], outputCount: x.count, reference: reference) { dout, g in
        Permute.backward(dinp: g[0].data, dout: dout.data, shape: shape, axes: axes)
      }
    }
  }

  func testMeanPool() {
    var data = TestData(seed: 41)
    let B = 2, N = 5, C = 3
    let x = data.tensor([B, N, C])
    func reference(_ v: [[Double]]) -> [Double] {
      (0..<(B * C)).map { i in (0..<N).reduce(0) { $0 + v[0][((i / C) * N + $1) * C + i % C] } / Double(N) }
    }
    let y = Tensor(zeros: [B, C])
    MeanPool.forward(out: y.data, inp: x.data, batch: B, tokens: N, channels: C)
    assertForward(y, reference([x.doubles]), "meanpool")
    checkGradients("meanpool", inputs: [x], outputCount: B * C, reference: reference) { dout, g in
      MeanPool.backward(dinp: g[0].data, dout: dout.data, batch: B, tokens: N, channels: C)
    }
  }

  func testDropout() {
    var data = TestData(seed: 42)
    let n = 20_000, p: Float = 0.1
    let x = data.tensor([n]), y = Tensor(zeros: [n]), mask = Tensor(zeros: [n])
    var rng = SeededRNG(seed: 7)
    Dropout.forward(out: y.data, mask: mask.data, inp: x.data, count: n, p: p, rng: &rng)
    let m = mask.toArray()
    XCTAssertTrue(m.allSatisfy { $0 == 0 || $0 == 1 / (1 - p) })
    let dropped = Double(m.filter { $0 == 0 }.count) / Double(n)
    XCTAssertEqual(dropped, 0.1, accuracy: 0.01, "drop rate (binomial sd 0.002)")
    for i in 0..<n { XCTAssertEqual(y.data[i], x.data[i] * m[i]) }
    // Same seed, same mask.
    var rng2 = SeededRNG(seed: 7)
    let mask2 = Tensor(zeros: [n]), y2 = Tensor(zeros: [n])
    Dropout.forward(out: y2.data, mask: mask2.data, inp: x.data, count: n, p: p, rng: &rng2)
    XCTAssertEqual(mask2.toArray(), m)
    let small = data.tensor([9])
    let smallMask = Tensor(zeros: [9]), smallOut = Tensor(zeros: [9])
    Dropout.forward(out: smallOut.data, mask: smallMask.data, inp: small.data, count: 9, p: 0.5, rng: &rng)
    checkGradients(
      "dropout", inputs: [small], outputCount: 9,
      reference: { v in
        zip(v[0], smallMask.doubles).map { $0 * $1 }
      }
    ) { dout, g in Dropout.backward(dinp: g[0].data, dout: dout.data, mask: smallMask.data, count: 9) }
  }

  func testCrossEntropyWithIgnoredTargets() {
    var data = TestData(seed: 43)
    let rows = 5, V = 37
    let logits = data.tensor([rows, V], scale: 5)
    let targets: [Int32] = [3, -100, 36, 0, -100]
    let dlogits = Tensor(zeros: [rows, V])
    dlogits.fill(9)  // written, not accumulated
    let loss = targets.withUnsafeBufferPointer {
      CrossEntropy.forwardBackward(
        logits: logits.data, targets: $0.baseAddress!, rows: rows, vocab: V, dlogits: dlogits.data)
    }
    let want = Ref.crossEntropy(logits.doubles, targets, rows: rows, vocab: V)
    XCTAssertEqual(Double(loss), want, accuracy: 1e-5 * abs(want), "loss (1e-5 relative)")
    // d loss / d logits by central differences (outputCount 1: L = loss · g, so compare against g·grad).
    var x = logits.doubles
    let h = 1e-4
    var fd = [Double](repeating: 0, count: x.count)
    for j in 0..<x.count {
      let s = x[j]
      x[j] = s + h
      let plus = Ref.crossEntropy(x, targets, rows: rows, vocab: V)
      x[j] = s - h
      let minus = Ref.crossEntropy(x, targets, rows: rows, vocab: V)
      x[j] = s
      fd[j] = (plus - minus) / (2 * h)
    }
    assertClose(dlogits.toArray(), fd, rtol: 0, atol: 1e-4 * fd.map(abs).max()!, "dlogits")
    let allIgnored: [Int32] = [-100, -100]
    let nanLoss = allIgnored.withUnsafeBufferPointer {
      CrossEntropy.forwardBackward(logits: logits.data, targets: $0.baseAddress!, rows: 2, vocab: V, dlogits: nil)
    }
    XCTAssertTrue(nanLoss.isNaN, "mean over no targets is NaN, as torch")
  }

  func testElementwiseAcrossWorkerSplit() {
    var data = TestData(seed: 44)
    let n = (1 << 17) + 5  // big enough to split over workers, with a scalar tail
    let a = data.tensor([n]), b = data.tensor([n]), out = Tensor(zeros: [n])
    Elementwise.add(out: out.data, a: a.data, b: b.data, count: n)
    assertForward(out, zip(a.doubles, b.doubles).map(+), "add")
    Elementwise.axpy(out.data, a.data, alpha: -2, count: n)
    assertForward(out, zip(a.doubles, b.doubles).map { Double(Float($0 + $1)) - 2 * $0 }, "axpy")
    Elementwise.scale(out: out.data, inp: a.data, by: 3, count: n)
    assertForward(out, a.doubles.map { 3 * $0 }, "scale")
    Elementwise.mul(out: out.data, a: a.data, b: b.data, count: n)
    assertForward(out, zip(a.doubles, b.doubles).map(*), "mul")
  }
}

final class InfrastructureTests: XCTestCase {
  func testParallelForVisitsEachIndexOnce() {
    let saved = (Threads.count, Threads.piecesPerWorker)
    defer { (Threads.count, Threads.piecesPerWorker) = saved }
    Threads.count = 2
    Threads.piecesPerWorker = 3
    for n in [0, 1, 2, 3, 7, 1000] {
      let hits = Tensor(zeros: [max(n, 1)])
      Threads.parallelFor(n) { hits.data[$0] += 1 }
      XCTAssertEqual(Array(hits.toArray().prefix(n)), [Float](repeating: 1, count: n), "n=\(n)")
    }
  }

  func testNestedRegionsRunSeriallyAndTwoThreadsMayEachRunRegions() {
    let saved = Threads.count
    defer { Threads.count = saved }
    Threads.count = 2
    let nested = Tensor(zeros: [2])
    Threads.parallelFor(2) { i in nested.data[i] = Float(Threads.workerCount(100)) }
    XCTAssertEqual(nested.toArray(), [1, 1], "inside a worker, nested loops are serial")
    XCTAssertEqual(Threads.workerCount(100), 2, "and the caller is not marked afterwards")
    // Two threads running parallel kernels at once (e.g. the shell and a background job).
    let n = 1 << 18
    var data = TestData(seed: 46)
    let a = data.tensor([n]), b = data.tensor([n])
    let outs = [Tensor(zeros: [n]), Tensor(zeros: [n])]
    let group = DispatchGroup()
    for t in 0..<2 {
      DispatchQueue.global().async(group: group) {
        for _ in 0..<20 { Elementwise.add(out: outs[t].data, a: a.data, b: b.data, count: n) }
      }
    }
    group.wait()
    let want = zip(a.doubles, b.doubles).map(+)
    for t in 0..<2 { assertForward(outs[t], want, "concurrent add \(t)") }
  }

  func testThreadCountSetting() {
    let saved = Threads.count
    defer { Threads.count = saved }
    Threads.count = 1
    XCTAssertEqual(Threads.workerCount(100), 1)
    Threads.count = 0
    XCTAssertEqual(Threads.count, 1, "at least one thread")
  }

  func testScratchArena() {
    let arena = ScratchArena(capacity: 64)
    let a = arena.tensor([3]), b = arena.tensor([40])
    XCTAssertEqual(Int(bitPattern: b.data) % 64, 0, "64-byte aligned")
    XCTAssertEqual(b.offset - a.offset, 16)
    let c = arena.zeros([100])  // does not fit: a second chunk
    XCTAssertEqual(c.toArray(), [Float](repeating: 0, count: 100))
    XCTAssertTrue(c.buffer !== a.buffer)
    arena.reset()  // consolidates into one chunk that holds the whole pass
    let a2 = arena.tensor([3]), b2 = arena.tensor([40]), c2 = arena.tensor([100])
    XCTAssertTrue(a2.buffer === c2.buffer && b2.buffer === c2.buffer)
  }

  func testBufferPoolReusesZeroedMemory() {
    let saved = TensorBuffer.poolLimitBytes
    defer { TensorBuffer.poolLimitBytes = saved }
    // Start from an empty pool: other tests in this process leave freed buffers of close sizes in it.
    TensorBuffer.poolLimitBytes = 0
    TensorBuffer.poolLimitBytes = saved
    let n = BufferPool.minFloats + 1001
    var first: UnsafeMutablePointer<Float>?
    do {
      let t = Tensor(zeros: [n])
      t.fill(3)
      first = t.data
    }
    let again = Tensor(zeros: [n - 1000])  // within 25%: reuses the larger buffer
    XCTAssertEqual(again.data, first, "a freed buffer of a close size comes back from the pool")
    XCTAssertTrue(again.toArray().allSatisfy { $0 == 0 }, "zeroed")
    XCTAssertEqual(again.buffer.capacity, n - 1000)
    TensorBuffer.poolLimitBytes = 0
    XCTAssertNil(BufferPool.take(n), "a zero limit empties the pool")
    do { _ = Tensor(zeros: [n]) }
    XCTAssertNil(BufferPool.take(n), "and keeps nothing")
  }

  func testSeededRNG() {
    var r1 = SeededRNG(seed: 123), r2 = SeededRNG(seed: 123), r3 = SeededRNG(seed: 124)
    let s1 = (0..<5).map { _ in r1.nextUInt64() }
    XCTAssertEqual(s1, (0..<5).map { _ in r2.nextUInt64() })
    XCTAssertNotEqual(s1, (0..<5).map { _ in r3.nextUInt64() })
    var mean = 0.0, sq = 0.0
    let n = 20_000
    for _ in 0..<n {
      let f = r1.nextFloat()
      XCTAssertTrue(f >= 0 && f < 1)
      let z = Double(r1.normal())
      mean += z
      sq += z * z
    }
    XCTAssertEqual(mean / Double(n), 0, accuracy: 0.03, "normal mean (sd of estimate 0.007)")
    XCTAssertEqual(sq / Double(n), 1, accuracy: 0.05, "normal variance (sd of estimate 0.01)")
  }
}
