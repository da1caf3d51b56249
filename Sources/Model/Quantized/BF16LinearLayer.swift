// A Linear whose frozen weight is held as bf16 (`load … precision=bf16`): half the fp32 bytes. The forward
// rounds its input to bf16 and accumulates in fp32 (BF16Weight); the bias stays fp32. As a frozen base
// under LoRA, backward gives the input gradient through the bf16 weight (no weight gradient).
import FlrCore

public final class BF16LinearLayer: LinearLayer {
  public let stored: BF16Weight

  /// Rounds `base`'s fp32 weight to bf16; the fp32 weight is not kept.
  public init(converting base: LinearLayer) {
    stored = BF16Weight(base.weight.data, outFeatures: base.outFeatures, inFeatures: base.inFeatures)
    super.init(weight: Tensor(zeros: [0]), bias: base.bias, in: base.inFeatures, out: base.outFeatures)
  }

  /// x [..., in] -> [..., out]
  public override func forward(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
    stored.linearForward(out: y.data, inp: x.data, bias: bias?.data, rows: x.count / inFeatures)
    return y
  }

  /// dout [..., out], input [..., in] -> dinput [..., in] = dout · W (W frozen)
  public override func backward(dout: Tensor, input: Tensor) -> Tensor {
    let dinput = Tensor(zeros: input.shape)
    stored.linearBackwardInput(dinp: dinput.data, dout: dout.data, rows: input.count / inFeatures)
    return dinput
  }
}
