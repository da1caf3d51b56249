import XCTest

@testable import FlrCore

final class AttentionTests: XCTestCase {
  /// Causal self-attention over a packed qkv [B, T, 3C] (q = p, k = p + C, v = p + 2C, stride 3C).
  func testPackedCausalSelfAttention() {
    var data = TestData(seed: 30)
    let B = 2, H = 2, T = 5, hd = 4, C = H * hd
    let qkv = data.tensor([B, T, 3 * C])
    let scale: Float = 0.5
    let out = Tensor(zeros: [B, T, C]), probs = Tensor(zeros: [B, H, T, T])
    Attention.forward(
      out: out.data, outStride: C, probs: probs.data, q: qkv.data, qStride: 3 * C, k: qkv.data + C, kStride: 3 * C,
      v: qkv.data + 2 * C, vStride: 3 * C, batch: B, heads: H, queryLength: T, keyLength: T, headDim: hd,
      scale: scale, causal: true)
    func reference(_ v: [[Double]]) -> (out: [Double], probs: [Double]) {
      let p = v[0]
      return Ref.attention(
        q: p, qStride: 3 * C, k: Array(p.dropFirst(C)), kStride: 3 * C, v: Array(p.dropFirst(2 * C)), vStride: 3 * C,
        B: B, H: H, Tq: T, Tk: T, hd: hd, scale: Double(scale), causal: true)
    }
    let want = reference([qkv.doubles])
    assertForward(out, want.out, "self-attention out")
    assertForward(probs, want.probs, "self-attention probs")
    checkGradients("self-attention", inputs: [qkv], outputCount: B * T * C, reference: { reference($0).out }) {
      dout, g in
      Attention.backward(
        dq: g[0].data, dk: g[0].data + C, dv: g[0].data + 2 * C, dout: dout.data, outStride: C, probs: probs.data,
        q: qkv.data, qStride: 3 * C, k: qkv.data + C, kStride: 3 * C, v: qkv.data + 2 * C, vStride: 3 * C,
        batch: B, heads: H, queryLength: T, keyLength: T, headDim: hd, scale: scale)
    }
  }

  /// Cross-attention with a per-batch additive mask, Tq ≠ Tk, k and v packed in one kv [B, Tk, 2C],
  /// and an output written into a wider buffer (outStride > C).
  func testMaskedCrossAttention() {
    var data = TestData(seed: 31)
    let B = 2, H = 3, Tq = 3, Tk = 6, hd = 2, C = H * hd, outStride = C + 2
    let q = data.tensor([B, Tq, C]), kv = data.tensor([B, Tk, 2 * C])
    var maskValues = [Float](repeating: 0, count: B * Tq * Tk)
    for i in 0..<Tq { maskValues[i * Tk + 5] = -1e9; maskValues[Tq * Tk + i * Tk + 1] = -2 }
    let mask = Tensor(shape: [B, Tq, Tk], values: maskValues)
    let out = Tensor(zeros: [B, Tq, outStride]), probs = Tensor(zeros: [B, H, Tq, Tk])
    let scale: Float = 0.7
    Attention.forward(
      out: out.data, outStride: outStride, probs: probs.data, q: q.data, qStride: C, k: kv.data, kStride: 2 * C,
      v: kv.data + C, vStride: 2 * C, batch: B, heads: H, queryLength: Tq, keyLength: Tk, headDim: hd, scale: scale,
      mask: mask.data, maskBatchStride: Tq * Tk)
    func reference(_ v: [[Double]]) -> [Double] {
      Ref.attention(
        q: v[0], qStride: C, k: v[1], kStride: 2 * C, v: Array(v[1].dropFirst(C)), vStride: 2 * C, B: B, H: H,
        Tq: Tq, Tk: Tk, hd: hd, scale: Double(scale), mask: mask.doubles, maskBatchStride: Tq * Tk
      ).out
    }
    let got = (0..<(B * Tq)).flatMap { r in Array(out.toArray()[(r * outStride)..<(r * outStride + C)]) }
    assertForward(Tensor(shape: [B * Tq * C], values: got), reference([q.doubles, kv.doubles]), "cross-attention")
    checkGradients("cross-attention", inputs: [q, kv], outputCount: B * Tq * C, reference: reference) { dout, g in
      let wide = Tensor(zeros: [B * Tq, outStride])
      for r in 0..<(B * Tq) { (wide.data + r * outStride).update(from: dout.data + r * C, count: C) }
      Attention.backward(
        dq: g[0].data, dk: g[1].data, dv: g[1].data + C, dout: wide.data, outStride: outStride, probs: probs.data,
        q: q.data, qStride: C, k: kv.data, kStride: 2 * C, v: kv.data + C, vStride: 2 * C, batch: B, heads: H,
        queryLength: Tq, keyLength: Tk, headDim: hd, scale: scale)
    }
  }

  /// One decoding step against a KV cache: Tq = 1, causalOffset = past length (the sgemv path).
  func testDecodeStepWithCausalOffset() {
    var data = TestData(seed: 32)
    let H = 2, hd = 8, C = H * hd, past = 6, Tk = past + 3
    let q = data.tensor([2, C]), kv = data.tensor([Tk, 2 * C])
    // Query row 1 at position past+1 sees keys 0...past+1; row 0 sees 0...past.
    let out = Tensor(zeros: [2, C]), probs = Tensor(zeros: [1, H, 2, Tk])
    Attention.forward(
      out: out.data, outStride: C, probs: probs.data, q: q.data, qStride: C, k: kv.data, kStride: 2 * C,
      v: kv.data + C, vStride: 2 * C, batch: 1, heads: H, queryLength: 2, keyLength: Tk, headDim: hd, scale: 0.3,
      causal: true, causalOffset: past)
    let want = Ref.attention(
      q: q.doubles, qStride: C, k: kv.doubles, kStride: 2 * C, v: Array(kv.doubles.dropFirst(C)), vStride: 2 * C,
      B: 1, H: H, Tq: 2, Tk: Tk, hd: hd, scale: 0.3, causal: true, causalOffset: past)
    assertForward(out, want.out, "decode out")
    assertForward(probs, want.probs, "decode probs")
    XCTAssertEqual(probs.toArray()[Tk - 1], 0, "key past+2 is masked for query 0")
  }

  /// Training without kept probabilities: forward with probs nil gives bitwise the output of forward with them
  /// kept, and backward recomputing them (same causal / mask / dropout arguments) bitwise the gradients of
  /// backward reading the kept ones.
  func testRecomputedProbabilitiesEqualKeptOnes() {
    var data = TestData(seed: 33)
    let B = 2, H = 3, Tq = 7, Tk = 9, hd = 4, C = H * hd
    let q = data.tensor([B, Tq, C]), k = data.tensor([B, Tk, C]), v = data.tensor([B, Tk, C])
    let dout = data.tensor([B, Tq, C]), mask = data.tensor([B, Tq, Tk])
    for (causal, masked, dropout) in [
      (true, false, nil), (false, true, nil), (true, true, AttentionDropout(p: 0.3, seed: 9)),
    ] as [(Bool, Bool, AttentionDropout?)] {
      var results: [[Float]] = []
      for keep in [true, false] {
        let out = Tensor(zeros: [B, Tq, C]), probs = Tensor(zeros: [B, H, Tq, Tk])
        let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        let m = masked ? mask.data : nil
        Attention.forward(
          out: out.data, outStride: C, probs: keep ? probs.data : nil, q: q.data, qStride: C, k: k.data, kStride: C,
          v: v.data, vStride: C, batch: B, heads: H, queryLength: Tq, keyLength: Tk, headDim: hd, scale: 0.4,
          causal: causal, causalOffset: 2, mask: m, maskBatchStride: Tq * Tk, dropout: dropout)
        Attention.backward(
          dq: dq.data, dk: dk.data, dv: dv.data, dout: dout.data, outStride: C, probs: keep ? probs.data : nil,
          q: q.data, qStride: C, k: k.data, kStride: C, v: v.data, vStride: C, batch: B, heads: H, queryLength: Tq,
          keyLength: Tk, headDim: hd, scale: 0.4, causal: causal, causalOffset: 2, mask: m,
          maskBatchStride: Tq * Tk, dropout: dropout)
        results.append(out.toArray() + dq.toArray() + dk.toArray() + dv.toArray())
      }
      XCTAssertEqual(results[1], results[0], "causal \(causal), mask \(masked), dropout \(dropout != nil)")
    }
  }

  /// accumulate false writes dq, dk, dv over whatever they held: bitwise += onto zeros.
  func testBackwardOverwritesWithoutAccumulate() {
    var data = TestData(seed: 34)
    let B = 2, H = 2, T = 6, hd = 4, C = H * hd
    let qkv = data.tensor([B, T, 3 * C]), dout = data.tensor([B, T, C])
    var results: [[Float]] = []
    for accumulate in [true, false] {
      let g = Tensor(zeros: qkv.shape)
      if !accumulate { g.fill(.nan) }
      Attention.backward(
        dq: g.data, dk: g.data + C, dv: g.data + 2 * C, dout: dout.data, outStride: C, probs: nil, q: qkv.data,
        qStride: 3 * C, k: qkv.data + C, kStride: 3 * C, v: qkv.data + 2 * C, vStride: 3 * C, batch: B, heads: H,
        queryLength: T, keyLength: T, headDim: hd, scale: 0.5, causal: true, accumulate: accumulate)
      results.append(g.toArray())
    }
    XCTAssertEqual(results[1], results[0])
  }
}
