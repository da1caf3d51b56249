// Cross-attention of a decoding step against keys/values held as bf16: the cache of a bf16 model,
// half the bytes every step reads (the keys and values of 577+ encoder tokens per layer and image, read from
// memory at each step). Each key and value is widened to fp32 as it is read; widening is exact, so the result
// is Attention.stepSharedKeys' on the bf16-rounded keys and values, bit for bit (the same sums in the same
// order).
import CFlrKernels

extension Attention {
  /// x [count] fp32 -> [count] bf16 (round to nearest even), two values per Float of the returned tensor;
  /// `bf16Values` reads them.
  public static func bf16Packed(_ x: Tensor) -> Tensor {
    let t = Tensor(zeros: [(x.count + 1) / 2])
    flr_bf16_from_f32(x.data, bf16Values(t), x.count)
    return t
  }

  /// The bf16 values of a tensor made by `bf16Packed`.
  @inline(__always) public static func bf16Values(_ t: Tensor) -> UnsafeMutablePointer<UInt16> {
    UnsafeMutableRawPointer(t.data).assumingMemoryBound(to: UInt16.self)
  }

  /// Sixteen bf16 values as fp32 (exact).
  @inline(__always) static func widen16(_ p: UnsafePointer<UInt16>) -> F16x {
    let h = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt16>.self)
    return unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: h) &<< 16, to: F16x.self)
  }

  /// `stepSharedKeys` with keysT [hd, paddedKeys] and v [keyLength, ·] (at stride vStride) as bf16.
  public static func stepSharedKeysBF16(
    out: UnsafeMutablePointer<Float>, outStride: Int, q: UnsafePointer<Float>, qStride: Int, queries: Int,
    keysT: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>, vStride: Int, keyLength: Int, headDim: Int,
    scale: Float, scores: UnsafeMutablePointer<Float>
  ) {
    let scope = Profile.begin(
      .attention, .forward, flops: 4 * (queries * keyLength * headDim), bytes: 2 * (2 * keyLength * headDim))
    defer { Profile.end(scope) }
    let hd = headDim, padded = paddedLength(keyLength)
    sharedKeyScores(scores, q: q, qStride: qStride, queries: queries, headDim: hd, padded: padded, scale: scale) {
      widen16(keysT + $0)
    }
    for i in 0..<queries {
      let p = scores + i * padded
      Softmax.row(p, p, keyLength)
      weightedSumBF16(out + i * outStride, probs: p, v: v, vStride: vStride, count: keyLength, headDim: hd)
    }
  }

  /// `weightedSum` over bf16 value rows v + p·vStride.
  @inline(__always) static func weightedSumBF16(
    _ out: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, v: UnsafePointer<UInt16>, vStride: Int,
    count: Int, headDim hd: Int
  ) {
    if hd == 64 {
      var a0 = F16x(), a1 = F16x(), a2 = F16x(), a3 = F16x()
      for p in 0..<count {
        let w = F16x(repeating: probs[p]), vp = v + p * vStride
        a0 = fma16(w, widen16(vp), a0)
        a1 = fma16(w, widen16(vp + 16), a1)
        a2 = fma16(w, widen16(vp + 32), a2)
        a3 = fma16(w, widen16(vp + 48), a3)
      }
      store16(a0, out)
      store16(a1, out + 16)
      store16(a2, out + 32)
      store16(a3, out + 48)
      return
    }
    out.update(repeating: 0, count: hd)
    let hd16 = hd / 16 * 16
    for p in 0..<count {
      let w = probs[p], vp = v + p * vStride
      var c = 0
      while c < hd16 {
        store16(fma16(F16x(repeating: w), widen16(vp + c), load16(out + c)), out + c)
        c += 16
      }
      while c < hd {
        out[c] += w * Float(bitPattern: UInt32(vp[c]) << 16)
        c += 1
      }
    }
  }
}
