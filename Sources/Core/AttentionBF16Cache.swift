// Cross-attention of a decoding step against keys/values held as bf16: the cache of a bf16 or int8 model, half
// the bytes every step reads (the keys and values of 577+ encoder tokens per layer and image, read from memory at
// each step). Each key and value is widened to fp32 as it is read; widening is exact, so the result is
// Attention.stepSharedKeys' on the bf16-rounded keys and values, bit for bit (the same kernel).
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

  /// `stepSharedKeys` with keysT [hd, paddedKeys] and v [keyLength, ·] (at stride vStride) as bf16.
  public static func stepSharedKeysBF16(
    out: UnsafeMutablePointer<Float>, outStride: Int, q: UnsafePointer<Float>, qStride: Int, queries: Int,
    keysT: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>, vStride: Int, keyLength: Int, headDim: Int,
    scale: Float, scores: UnsafeMutablePointer<Float>
  ) {
    let scope = Profile.begin(
      .attention, .forward, flops: 4 * (queries * keyLength * headDim), bytes: 2 * (2 * keyLength * headDim))
    defer { Profile.end(scope) }
    flr_attention_step_shared(
      out, outStride, q, qStride, queries, keysT, v, vStride, 1, keyLength, headDim, scale, scores)
  }
}
