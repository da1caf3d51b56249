// transformers models/florence2/modeling_florence2.py: Florence2VisionMLP (remote code: Mlp, under `ffn.fn`,
// its layers in `net`: fc1, act, fc2).
import FlrCore

/// fc1 (C -> 4C) -> exact GELU -> fc2 (4C -> C). SPEC §3.6.
final class Mlp {
  var fc1: LinearLayer
  var fc2: LinearLayer

  init(_ w: Weights, dim: Int, ratio: Float) {
    w.module("Mlp")
    let net = w.child("net")
    net.module("Sequential")
    let hidden = Int(Float(dim) * ratio)
    fc1 = LinearLayer(net.child("fc1"), in: dim, out: hidden)
    net.child("act").module("GELU")
    fc2 = LinearLayer(net.child("fc2"), in: hidden, out: dim)
    net.slots(self, \.fc1, \.fc2)
  }

  /// x [..., C] -> [..., C]
  func forward(_ x: Tensor) -> Tensor { fc2.forward(fc1.forwardGelu(x)) }

  /// Only fc1's output is kept: the GELU output (fc2's input) is recomputed in backward and x is given back
  /// recomputed, each only when an adapted fc reads it.
  struct Saved {
    let preActivation: Tensor  // [..., 4C]
    let fc1: LayerSaved, fc2: LayerSaved
  }

  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, Saved) {
    let (pre, fc1Saved) = fc1.forwardTrain(x, ctx: ctx)
    let activated = Tensor(uninitialized: pre.shape)
    Gelu.forward(out: activated.data, inp: pre.data, count: pre.count)
    let (y, fc2Saved) = fc2.forwardTrain(activated, ctx: ctx)
    return (y, Saved(preActivation: pre, fc1: fc1Saved, fc2: fc2Saved))
  }

  /// forwardTrain's Saved without its output: a checkpoint recompute, where backward reads neither the GELU
  /// output nor fc2's product, so neither is formed (an adapted fc2's backward redraws its mask and forms its
  /// down-projection from the recomputed input).
  func savedWithoutOutput(_ x: Tensor, ctx: TrainingContext) -> Saved {
    let (pre, fc1Saved) = fc1.forwardTrain(x, ctx: ctx)
    let fc2Saved = fc2.savedWithoutOutput(inputCount: pre.count, ctx: ctx)
    return Saved(preActivation: pre, fc1: fc1Saved, fc2: fc2Saved)
  }

  /// dy [..., C], the forward's input x (made only if fc1's backward reads it) -> dx
  func backward(_ dy: Tensor, _ s: Saved, input: () -> Tensor) -> Tensor {
    let pre = s.preActivation
    var activated = pre  // same shape: stands in where a frozen fc2 does not read its input
    if fc2.backwardReadsInput {
      activated = Tensor(uninitialized: pre.shape)
      Gelu.forward(out: activated.data, inp: pre.data, count: activated.count)
    }
    let dActivated = fc2.backward(dout: dy, input: activated, saved: s.fc2)
    let dPre = Tensor(uninitialized: pre.shape)
    Gelu.backward(dinp: dPre.data, dout: dActivated.data, inp: pre.data, count: dPre.count, accumulate: false)
    return fc1.backward(dout: dPre, input: fc1.backwardReadsInput ? input() : dy, saved: s.fc1)
  }
}
