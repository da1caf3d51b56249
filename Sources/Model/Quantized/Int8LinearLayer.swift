// A Linear whose frozen weight is held as int8 with per-output-channel fp32 scales (`load … precision=int8`,
// the text side): a quarter of the fp32 bytes. The forward quantizes its input per row on the fly and takes
// integer dot products (Int8Weight); the bias stays fp32. As a frozen base under LoRA, backward gives the
// input gradient through the dequantized weight (no weight gradient).
import FlrCore

public final class Int8LinearLayer: LinearLayer {
  public let stored: Int8Weight

  /// Quantizes `base`'s fp32 weight; the fp32 weight is not kept.
  public init(converting base: LinearLayer) {
    stored = Int8Weight(base.weight.data, outFeatures: base.outFeatures, inFeatures: base.inFeatures)
    super.init(weight: Tensor(zeros: [0]), bias: base.bias, in: base.inFeatures, out: base.outFeatures)
  }

  /// x [..., in] -> [..., out]
  public override func forward(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
    stored.linearForward(out: y.data, inp: x.data, bias: bias?.data, rows: x.count / inFeatures)
    return y
  }

  /// dout [..., out], input [..., in] -> dinput [..., in] = dout · W_deq (W frozen)
  public override func backward(dout: Tensor, input: Tensor) -> Tensor {
    let dinput = Tensor(zeros: input.shape)
    stored.linearBackwardInput(dinp: dinput.data, dout: dout.data, rows: input.count / inFeatures)
    return dinput
  }
}
