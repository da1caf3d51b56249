// What the Linears whose frozen weight lives in a reduced form (BF16LinearLayer, Int8LinearLayer,
// NF4LinearLayer) share: `weight` is an empty tensor, the products go through the stored weight, the bias
// stays fp32. As a frozen base under LoRA, backward gives the input gradient only (no weight or bias gradient).
import FlrCore

public class FrozenReducedLinear<Stored: FrozenWeight>: LinearLayer {
  public let stored: Stored  // W [out, in]

  init(stored: Stored, bias: Tensor?, in inFeatures: Int, out outFeatures: Int) {
    self.stored = stored
    super.init(weight: Tensor(zeros: [0]), bias: bias, in: inFeatures, out: outFeatures)
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
