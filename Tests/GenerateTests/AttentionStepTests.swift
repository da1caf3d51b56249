// The attention kernels generation runs on (FlrCore Attention.stepSharedKeys / stepGathered /
// forwardInference) against Attention.forward, the kernel the model parity tests check against PyTorch.
// Kept with the generation tests because decoding is their only user. Shapes: BART base's head size 64 (the
// register-accumulator path) and the tiny fixtures' 8 (the generic path), key counts that are and are not
// multiples of 16. Tolerance 1e-5 relative (max|Δ| / max|ref|): the same sums in a different order, float32.
import FlrCore
import XCTest

final class AttentionStepTests: XCTestCase {
  override func tearDown() { KernelPath.active = .supported }

  func random(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      return Float(Int(state % 2001) - 1000) / 1000
    }
  }

  func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    let scale = b.map(abs).max() ?? 1
    return zip(a, b).map { abs($0 - $1) }.max()! / max(scale, 1e-30)
  }

  /// Reference: Attention.forward with one query row per call.
  func reference(q: [Float], k: [Float], v: [Float], heads: Int, headDim: Int, keys: Int) -> [Float] {
    let d = heads * headDim
    var out = [Float](repeating: 0, count: d)
    var probs = [Float](repeating: 0, count: heads * keys)
    Attention.forward(
      out: &out, outStride: d, probs: &probs, q: q, qStride: d, k: k, kStride: d, v: v, vStride: d, batch: 1,
      heads: heads, queryLength: 1, keyLength: keys, headDim: headDim, scale: 1 / Float(headDim).squareRoot())
    return out
  }

  func testSharedKeysMatchesForwardPerQuery() {
    for (heads, hd, keys, queries) in [(12, 64, 590, 3), (4, 8, 19, 4), (2, 64, 16, 5), (3, 24, 33, 1)] {
      let d = heads * hd, padded = Attention.paddedLength(keys)
      let q = random(queries * d, seed: 1), k = random(keys * d, seed: 2), v = random(keys * d, seed: 3)
      // keysT [heads, hd, padded], zero past `keys`
      var keysT = [Float](repeating: 0, count: heads * hd * padded)
      for h in 0..<heads {
        for p in 0..<keys { for c in 0..<hd { keysT[(h * hd + c) * padded + p] = k[p * d + h * hd + c] } }
      }
      var out = [Float](repeating: 0, count: queries * d)
      var scores = [Float](repeating: 0, count: queries * padded)
      for h in 0..<heads {
        keysT.withUnsafeBufferPointer { kt in
          q.withUnsafeBufferPointer { qp in
            v.withUnsafeBufferPointer { vp in
              Attention.stepSharedKeys(
                out: &out[h * hd], outStride: d, q: qp.baseAddress! + h * hd, qStride: d, queries: queries,
                keysT: kt.baseAddress! + h * hd * padded, v: vp.baseAddress! + h * hd, vStride: d, keyLength: keys,
                headDim: hd, scale: 1 / Float(hd).squareRoot(), scores: &scores)
            }
          }
        }
      }
      for i in 0..<queries {
        let want = reference(
          q: Array(q[i * d..<(i + 1) * d]), k: k, v: v, heads: heads, headDim: hd, keys: keys)
        let error = relativeError(Array(out[i * d..<(i + 1) * d]), want)
        XCTAssertLessThan(error, 1e-5, "heads \(heads) hd \(hd) keys \(keys) query \(i)")
      }
    }
  }

  /// The bf16 cache's kernel is stepSharedKeys on the bf16-rounded keys and values, bit for bit.
  func testSharedKeysBF16IsSharedKeysOnRoundedKeysAndValues() {
    for (heads, hd, keys, queries) in [(12, 64, 590, 3), (4, 8, 19, 4), (3, 24, 33, 1)] {
      let d = heads * hd, padded = Attention.paddedLength(keys)
      let q = random(queries * d, seed: 4), k = random(keys * d, seed: 5), v = random(keys * d, seed: 6)
      var keysT = [Float](repeating: 0, count: heads * hd * padded)
      for h in 0..<heads {
        for p in 0..<keys { for c in 0..<hd { keysT[(h * hd + c) * padded + p] = k[p * d + h * hd + c] } }
      }
      let keysHalf = Attention.bf16Packed(Tensor(shape: [keysT.count], values: keysT))
      let valuesHalf = Attention.bf16Packed(Tensor(shape: [v.count], values: v))
      var roundedKeysT = keysT, roundedV = v
      BF16Weight.round(keysT, into: &roundedKeysT, count: keysT.count)
      BF16Weight.round(v, into: &roundedV, count: v.count)
      XCTAssertNotEqual(roundedV, v)
      var want = [Float](repeating: 0, count: queries * d), got = want
      var scores = [Float](repeating: 0, count: queries * padded)
      for h in 0..<heads {
        q.withUnsafeBufferPointer { qp in
          roundedKeysT.withUnsafeBufferPointer { kt in
            roundedV.withUnsafeBufferPointer { vp in
              Attention.stepSharedKeys(
                out: &want[h * hd], outStride: d, q: qp.baseAddress! + h * hd, qStride: d, queries: queries,
                keysT: kt.baseAddress! + h * hd * padded, v: vp.baseAddress! + h * hd, vStride: d, keyLength: keys,
                headDim: hd, scale: 1 / Float(hd).squareRoot(), scores: &scores)
            }
          }
          Attention.stepSharedKeysBF16(
            out: &got[h * hd], outStride: d, q: qp.baseAddress! + h * hd, qStride: d, queries: queries,
            keysT: Attention.bf16Values(keysHalf) + h * hd * padded, v: Attention.bf16Values(valuesHalf) + h * hd,
            vStride: d, keyLength: keys, headDim: hd, scale: 1 / Float(hd).squareRoot(), scores: &scores)
        }
      }
      XCTAssertEqual(got, want, "heads \(heads) hd \(hd) keys \(keys)")
    }
  }

  func testGatheredMatchesForwardOnPermutedRows() {
    for (heads, hd, keys) in [(12, 64, 40), (4, 8, 7), (2, 20, 1)] {
      let d = heads * hd, slots = 3
      // Storage [keys, slots, d]; the sequence reads slot (p·7) % slots at position p.
      let kStore = random(keys * slots * d, seed: 4), vStore = random(keys * slots * d, seed: 5)
      let offsets = (0..<keys).map { p in (p * slots + (p * 7) % slots) * d }
      let k = offsets.flatMap { kStore[$0..<$0 + d] }, v = offsets.flatMap { vStore[$0..<$0 + d] }
      let q = random(d, seed: 6)
      var out = [Float](repeating: 0, count: d)
      var scores = [Float](repeating: 0, count: keys)
      for h in 0..<heads {
        kStore.withUnsafeBufferPointer { kp in
          vStore.withUnsafeBufferPointer { vp in
            q.withUnsafeBufferPointer { qp in
              Attention.stepGathered(
                out: &out[h * hd], q: qp.baseAddress! + h * hd, k: kp.baseAddress! + h * hd,
                v: vp.baseAddress! + h * hd, rowOffsets: offsets, keyLength: keys, headDim: hd,
                scale: 1 / Float(hd).squareRoot(), scores: &scores)
            }
          }
        }
      }
      let error = relativeError(out, reference(q: q, k: k, v: v, heads: heads, headDim: hd, keys: keys))
      XCTAssertLessThan(error, 1e-5, "heads \(heads) hd \(hd) keys \(keys)")
    }
  }

  func testForwardInferenceMatchesForward() {
    for (batch, heads, hd, tq, tk, causal) in [
      (1, 12, 64, 590, 590, false), (2, 4, 8, 37, 37, true), (2, 3, 16, 5, 300, false), (1, 2, 64, 200, 200, true),
    ] {
      let d = heads * hd
      let q = random(batch * tq * d, seed: 7), k = random(batch * tk * d, seed: 8), v = random(batch * tk * d, seed: 9)
      var want = [Float](repeating: 0, count: batch * tq * d), got = want
      var probs = [Float](repeating: 0, count: batch * heads * tq * tk)
      let scale = 1 / Float(hd).squareRoot()
      Attention.forward(
        out: &want, outStride: d, probs: &probs, q: q, qStride: d, k: k, kStride: d, v: v, vStride: d, batch: batch,
        heads: heads, queryLength: tq, keyLength: tk, headDim: hd, scale: scale, causal: causal)
      Attention.forwardInference(
        out: &got, outStride: d, q: q, qStride: d, k: k, kStride: d, v: v, vStride: d, batch: batch, heads: heads,
        queryLength: tq, keyLength: tk, headDim: hd, scale: scale, causal: causal)
      XCTAssertLessThan(relativeError(got, want), 1e-5, "B \(batch) H \(heads) hd \(hd) \(tq)x\(tk) causal \(causal)")
    }
  }

  /// Every kernel path the CPU runs gives the portable path's bits: shared keys (fp32 and bf16 cache, 1 to 5
  /// queries) and gathered rows, at head sizes 64 (the register sums) and 24 (the generic path with a tail).
  func testEveryKernelPathGivesTheSameBits() {
    func run(_ path: KernelPath, heads: Int, hd: Int, keys: Int, queries: Int) -> [Float] {
      KernelPath.active = path
      let d = heads * hd, padded = Attention.paddedLength(keys), scale = 1 / Float(hd).squareRoot()
      let q = random(queries * d, seed: 11), keysT = random(heads * hd * padded, seed: 12)
      let v = random(keys * d, seed: 13)
      let keysHalf = Attention.bf16Packed(Tensor(shape: [keysT.count], values: keysT))
      let valuesHalf = Attention.bf16Packed(Tensor(shape: [v.count], values: v))
      let offsets = (0..<keys).map { ($0 * 5 % keys) * d }
      var out = [Float](repeating: 0, count: 3 * queries * d)
      var scores = [Float](repeating: 0, count: queries * padded)
      for h in 0..<heads {
        q.withUnsafeBufferPointer { qp in
          keysT.withUnsafeBufferPointer { kt in
            v.withUnsafeBufferPointer { vp in
              Attention.stepSharedKeys(
                out: &out[h * hd], outStride: d, q: qp.baseAddress! + h * hd, qStride: d, queries: queries,
                keysT: kt.baseAddress! + h * hd * padded, v: vp.baseAddress! + h * hd, vStride: d, keyLength: keys,
                headDim: hd, scale: scale, scores: &scores)
              Attention.stepGathered(
                out: &out[queries * d + h * hd], q: qp.baseAddress! + h * hd, k: kt.baseAddress! + h * hd,
                v: vp.baseAddress! + h * hd, rowOffsets: offsets, keyLength: keys, headDim: hd, scale: scale,
                scores: &scores)
            }
          }
          Attention.stepSharedKeysBF16(
            out: &out[2 * queries * d + h * hd], outStride: d, q: qp.baseAddress! + h * hd, qStride: d,
            queries: queries, keysT: Attention.bf16Values(keysHalf) + h * hd * padded,
            v: Attention.bf16Values(valuesHalf) + h * hd, vStride: d, keyLength: keys, headDim: hd, scale: scale,
            scores: &scores)
        }
      }
      return out
    }
    for (heads, hd, keys) in [(12, 64, 590), (3, 24, 33)] {
      for queries in 1...5 {
        let want = run(.portable, heads: heads, hd: hd, keys: keys, queries: queries)
        for path in KernelPath.runnable where path != .portable {
          let got = run(path, heads: heads, hd: hd, keys: keys, queries: queries)
          XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(path) hd \(hd) queries \(queries)")
        }
      }
    }
  }
}
