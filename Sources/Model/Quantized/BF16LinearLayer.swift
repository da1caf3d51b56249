// A Linear whose frozen weight is held as bf16 (`load … precision=bf16`): half the fp32 bytes. The forward
// rounds its input to bf16 and accumulates in fp32 (BF16Weight); the bias stays fp32. As a frozen base
// under LoRA, backward gives the input gradient through the bf16 weight, the output gradient rounded to bf16
// as it enters the product (no weight gradient).
import FlrCore

public final class BF16LinearLayer: FrozenReducedLinear<BF16Weight> {
  /// Rounds `base`'s fp32 weight to bf16; the fp32 weight is not kept.
  public init(converting base: LinearLayer) {
    super.init(
      stored: BF16Weight(base.weight.data, outFeatures: base.outFeatures, inFeatures: base.inFeatures),
      bias: base.bias, in: base.inFeatures, out: base.outFeatures)
  }
}
