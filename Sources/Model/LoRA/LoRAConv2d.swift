// peft/tuners/lora/layer.py `Conv2d`: y = base(x) + s · B(A(dropout(x))) with A a conv Cin -> r using the base
// kernel, stride and padding (no bias) and B a 1×1 conv r -> Cout, i.e. a Linear on the channels-last output.
// Backward reads LayerSaved: the small product [B, Ho, Wo, r] and the dropout stream's state.
import FlrCore

public final class LoRAConv2d: Conv2dLayer, LoRALayer {
  public let base: Conv2dLayer
  public let lora: LoRAParameters

  public init(base: Conv2dLayer, lora: LoRAParameters) {
    self.base = base
    self.lora = lora
    super.init(sharing: base)
  }

  /// x [B, H, W, in] -> [B, Ho, Wo, out]
  public override func forward(_ x: Tensor) -> Tensor { forward(x, ctx: nil).0 }

  public override func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, LayerSaved) {
    forward(x, ctx: ctx)
  }

  private func forward(_ x: Tensor, ctx: TrainingContext?) -> (Tensor, LayerSaved) {
    let y = base.forward(x)
    let scope = Profile.begin(.lora, .forward)  // the adapter's share, apart from the base's conv
    defer { Profile.end(scope) }
    let (b, h, w) = (x.shape[0], x.shape[1], x.shape[2])
    let (ho, wo, r) = (y.shape[1], y.shape[2], lora.rank)
    var (xd, mask, saved) = lora.dropped(x, ctx: ctx)
    let down = Tensor(zeros: [b, ho, wo, r])
    Conv2d.forward(
      out: down.data, inp: xd.data, weight: lora.loraA.data, bias: nil, batch: b, height: h, width: w,
      inChannels: inChannels, outChannels: r, kernel: kernel, stride: stride, padding: padding)
    // y [pixels, out] += s · down [pixels, r] · B [out, r]ᵀ
    Gemm.matmul(
      down.data, lora.loraB.data, y.data, m: b * ho * wo, n: outChannels, k: r, transB: true, alpha: lora.scaling,
      beta: 1)
    saved.down = down
    withExtendedLifetime((xd, mask, down)) {}  // temporaries read through raw pointers above
    return (y, saved)
  }

  /// Backward without a training forward: no dropout, the down-projection recomputed.
  public override func backward(dout: Tensor, input: Tensor) -> Tensor {
    backward(dout: dout, input: input, saved: LayerSaved())
  }

  /// dout [B, Ho, Wo, out], input [B, H, W, in] -> dinput; accumulates gradA [r, in, k, k], gradB [out, r, 1, 1].
  public override func backward(dout: Tensor, input: Tensor, saved: LayerSaved) -> Tensor {
    let dinput = base.backward(dout: dout, input: input)
    adapterBackward(dout: dout, input: input, saved: saved, dinput: dinput)
    return dinput
  }

  /// Nothing below needs the input's gradient (the image under the first patch embedding): only gradA and gradB.
  public override func accumulateParameterGradients(dout: Tensor, input: Tensor, saved: LayerSaved) {
    adapterBackward(dout: dout, input: input, saved: saved, dinput: nil)
  }

  /// The adapter's gradients, and its share of the input gradient added into `dinput` when one is wanted.
  private func adapterBackward(dout: Tensor, input: Tensor, saved: LayerSaved, dinput: Tensor?) {
    let (b, h, w) = (input.shape[0], input.shape[1], input.shape[2])
    let scope = Profile.begin(.lora, .backward)
    defer { Profile.end(scope) }
    let pixels = dout.count / outChannels, r = lora.rank, s = lora.scaling
    let redrawn = lora.redrawn(input, saved)
    let xd = redrawn?.dropped ?? input
    let down: Tensor
    if let kept = saved.down, kept.count == pixels * r {
      down = kept
    } else {
      down = Tensor(zeros: [pixels, r])
      Conv2d.forward(
        out: down.data, inp: xd.data, weight: lora.loraA.data, bias: nil, batch: b, height: h, width: w,
        inChannels: inChannels, outChannels: r, kernel: kernel, stride: stride, padding: padding)
    }
    // gradB [out, r] += s · doutᵀ · down
    Gemm.matmul(
      dout.data, down.data, lora.gradB.data, m: outChannels, n: r, k: pixels, transA: true, alpha: s, beta: 1)
    let ddown = Tensor(zeros: [pixels, r])  // s · dout · B
    Gemm.matmul(dout.data, lora.loraB.data, ddown.data, m: pixels, n: r, k: outChannels, alpha: s)
    let mask = redrawn?.mask
    // The dropped input's gradient goes straight into dinput without a mask, through a masked copy with one.
    let dxd = dinput.map { mask == nil ? $0 : Tensor(zeros: input.shape) }
    Conv2d.backward(
      dinp: dxd?.data, dweight: lora.gradA.data, dbias: nil, dout: ddown.data, inp: xd.data,
      weight: lora.loraA.data, batch: b, height: h, width: w, inChannels: inChannels, outChannels: r,
      kernel: kernel, stride: stride, padding: padding)
    if let mask, let dinput, let dxd {
      Dropout.backward(dinp: dinput.data, dout: dxd.data, mask: mask.data, count: input.count)
    }
    withExtendedLifetime((xd, down, ddown, dxd, redrawn)) {}
  }

  public var canMerge: Bool { weight.count == outChannels * inChannels * kernel * kernel }

  public func foldIntoBase(sign: Float) {
    // W [out, in·k·k] += sign · s · B [out, r] · A [r, in·k·k]
    let cols = inChannels * kernel * kernel
    Gemm.matmul(
      lora.loraB.data, lora.loraA.data, weight.data, m: outChannels, n: cols, k: lora.rank,
      alpha: sign * lora.scaling, beta: 1)
  }
}
