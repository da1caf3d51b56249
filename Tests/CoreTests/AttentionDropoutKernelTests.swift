// Attention-probability dropout in Attention.forward/backward: (P ⊙ M)·V with the softmax backward reading the
// undropped P. Checked against a double-precision reference with the same mask and central finite differences,
// the seeded masks against the given-mask path, and the drawn masks' statistics.
import XCTest

@testable import FlrCore

final class AttentionDropoutKernelTests: XCTestCase {
  /// out [B, Tq, H·hd] = (softmax(scale·q·kᵀ) ⊙ M) · v in double; mask [B, H, Tq, Tk].
  func reference(
    _ q: [Double], _ k: [Double], _ v: [Double], mask: [Double], B: Int, H: Int, Tq: Int, Tk: Int, hd: Int,
    scale: Double, causal: Bool
  ) -> [Double] {
    let C = H * hd
    let probs = Ref.attention(
      q: q, qStride: C, k: k, kStride: C, v: v, vStride: C, B: B, H: H, Tq: Tq, Tk: Tk, hd: hd, scale: scale,
      causal: causal
    ).probs
    var out = [Double](repeating: 0, count: B * Tq * C)
    for b in 0..<B {
      for h in 0..<H {
        for i in 0..<Tq {
          for d in 0..<hd {
            var s = 0.0
            for j in 0..<Tk {
              let e = ((b * H + h) * Tq + i) * Tk + j
              s += probs[e] * mask[e] * v[(b * Tk + j) * C + h * hd + d]
            }
            out[(b * Tq + i) * C + h * hd + d] = s
          }
        }
      }
    }
    return out
  }

  /// A given mask of 0 and 1/(1-p) (what torch's dropout multiplies by): forward and all three gradients.
  func testGivenMaskAgainstReference() {
    for (Tq, Tk, causal) in [(5, 5, true), (3, 7, false)] {
      var data = TestData(seed: 40)
      let B = 2, H = 2, hd = 4, C = H * hd, p: Float = 0.3
      let q = data.tensor([B, Tq, C]), k = data.tensor([B, Tk, C]), v = data.tensor([B, Tk, C])
      let mask = Tensor(zeros: [B, H, Tq, Tk])
      for i in 0..<mask.count { mask.data[i] = data.rng.nextFloat() < p ? 0 : 1 / (1 - p) }
      let dropout = AttentionDropout(p: p, mask: mask)
      let out = Tensor(zeros: [B, Tq, C]), probs = Tensor(zeros: [B, H, Tq, Tk])
      Attention.forward(
        out: out.data, outStride: C, probs: probs.data, q: q.data, qStride: C, k: k.data, kStride: C, v: v.data,
        vStride: C, batch: B, heads: H, queryLength: Tq, keyLength: Tk, headDim: hd, scale: 0.5, causal: causal,
        dropout: dropout)
      func ref(_ x: [[Double]]) -> [Double] {
        reference(x[0], x[1], x[2], mask: mask.doubles, B: B, H: H, Tq: Tq, Tk: Tk, hd: hd, scale: 0.5, causal: causal)
      }
      let what = "Tq=\(Tq) Tk=\(Tk) causal=\(causal)"
      assertForward(out, ref([q.doubles, k.doubles, v.doubles]), what)
      // probs keeps the undropped softmax (backward needs it): rows sum to 1.
      for r in 0..<(B * H * Tq) {
        XCTAssertEqual((0..<Tk).reduce(Float(0)) { $0 + probs.data[r * Tk + $1] }, 1, accuracy: 1e-5)
      }
      checkGradients(what, inputs: [q, k, v], outputCount: B * Tq * C, reference: ref) { dout, g in
        Attention.backward(
          dq: g[0].data, dk: g[1].data, dv: g[2].data, dout: dout.data, outStride: C, probs: probs.data, q: q.data,
          qStride: C, k: k.data, kStride: C, v: v.data, vStride: C, batch: B, heads: H, queryLength: Tq,
          keyLength: Tk, headDim: hd, scale: 0.5, dropout: dropout)
      }
    }
  }

  /// Seeded masks redrawn in forward and backward give bitwise what their own mask, given, gives.
  func testSeededMasksEqualTheirMaskGiven() {
    var data = TestData(seed: 41)
    let B = 2, H = 3, T = 19, hd = 8, C = H * hd, p: Float = 0.25  // 19² = 361: the scalar tail too
    let q = data.tensor([B, T, C]), k = data.tensor([B, T, C]), v = data.tensor([B, T, C])
    let dout = data.tensor([B, T, C])
    let seeded = AttentionDropout(p: p, seed: 77)
    let mask = Tensor(zeros: [B, H, T, T]), ones = Tensor(zeros: [T * T])
    ones.fill(1)
    for bh in 0..<(B * H) { seeded.apply(out: mask.data + bh * T * T, probs: ones.data, block: bh, count: T * T) }
    var results: [[Float]] = []
    for dropout in [seeded, AttentionDropout(p: p, mask: mask)] {
      let out = Tensor(zeros: [B, T, C]), probs = Tensor(zeros: [B, H, T, T])
      let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
      Attention.forward(
        out: out.data, outStride: C, probs: probs.data, q: q.data, qStride: C, k: k.data, kStride: C, v: v.data,
        vStride: C, batch: B, heads: H, queryLength: T, keyLength: T, headDim: hd, scale: 0.3, causal: true,
        dropout: dropout)
      Attention.backward(
        dq: dq.data, dk: dk.data, dv: dv.data, dout: dout.data, outStride: C, probs: probs.data, q: q.data,
        qStride: C, k: k.data, kStride: C, v: v.data, vStride: C, batch: B, heads: H, queryLength: T,
        keyLength: T, headDim: hd, scale: 0.3, dropout: dropout)
      results.append(out.toArray() + dq.toArray() + dk.toArray() + dv.toArray())
    }
    XCTAssertEqual(results[0], results[1])
  }

  /// Drawn masks: about p of the entries zeroed, the rest scaled by exactly 1/(1-p); each block its own mask;
  /// the same seed the same masks, another seed others.
  func testDrawnMaskStatistics() {
    let blocks = 8, count = 50_003  // not a multiple of 8: the scalar tail too
    let ones = Tensor(zeros: [count])
    ones.fill(1)
    for p: Float in [0.1, 0.5] {
      let masks = Tensor(zeros: [blocks, count])
      let dropout = AttentionDropout(p: p, seed: 3)
      for b in 0..<blocks { dropout.apply(out: masks.data + b * count, probs: ones.data, block: b, count: count) }
      let values = masks.toArray()
      let zeros = values.filter { $0 == 0 }.count
      XCTAssertTrue(values.allSatisfy { $0 == 0 || $0 == 1 / (1 - p) })
      // Binomial: standard deviation sqrt(p(1-p)/n) = 3.4e-4 (p = 0.1) .. 7.9e-4 (0.5) for n = 400,024;
      // 5 of them: a fixed seed, so this either always passes or always fails.
      let n = Double(values.count), sigma = (Double(p) * Double(1 - p) / n).squareRoot()
      XCTAssertEqual(Double(zeros) / n, Double(p), accuracy: 5 * sigma, "p = \(p)")
      let first = Array(values[0..<count]), second = Array(values[count..<(2 * count)])
      XCTAssertNotEqual(first, second, "blocks share a mask")
      let again = Tensor(zeros: [count]), other = Tensor(zeros: [count])
      dropout.apply(out: again.data, probs: ones.data, block: 0, count: count)
      AttentionDropout(p: p, seed: 4).apply(out: other.data, probs: ones.data, block: 0, count: count)
      XCTAssertEqual(again.toArray(), first)
      XCTAssertNotEqual(other.toArray(), first)
    }
  }
}
