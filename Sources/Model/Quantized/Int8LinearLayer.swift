// A Linear whose frozen weight is held as int8 with per-output-channel fp32 scales (`load … precision=int8`,
// the text side): a quarter of the fp32 bytes. The forward quantizes its input per row on the fly and takes
// integer dot products (Int8Weight); the bias stays fp32. As a frozen base under LoRA, backward gives the
// input gradient through the dequantized weight rounded to bf16, with bf16 dot products (no weight gradient).
import FlrCore

public final class Int8LinearLayer: FrozenReducedLinear<Int8Weight> {
  /// Quantizes `base`'s fp32 weight; the fp32 weight is not kept.
  public init(converting base: LinearLayer) {
    super.init(
      stored: Int8Weight(base.weight.data, outFeatures: base.outFeatures, inFeatures: base.inFeatures),
      bias: base.bias, in: base.inFeatures, out: base.outFeatures)
  }
}
