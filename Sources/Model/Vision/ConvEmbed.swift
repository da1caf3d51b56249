// transformers models/florence2/modeling_florence2.py: Florence2VisionConvEmbed (remote code: ConvEmbed).
// Key path: vision_tower.convs.{i}.{proj,norm}.
import FlrCore

/// Patch embedding of one DaViT stage: stage 0 convolves then normalises (norm over the conv's output
/// channels); stages 1-3 normalise the previous stage's tokens, then convolve (`patch_prenorm`). SPEC §3.2.
final class ConvEmbed {
  var proj: Conv2dLayer
  let norm: LayerNormLayer
  let preNorm: Bool

  init(_ w: Weights, config: VisionConfig, stage i: Int) {
    w.module("ConvEmbed")
    let inChannels = i == 0 ? 3 : config.dimEmbed[i - 1]
    let outChannels = config.dimEmbed[i]
    preNorm = config.patchPrenorm[i]
    proj = Conv2dLayer(
      w.child("proj"), in: inChannels, out: outChannels, kernel: config.patchSize[i], stride: config.patchStride[i],
      padding: config.patchPadding[i])
    norm = LayerNormLayer(w.child("norm"), dim: preNorm ? inChannels : outChannels)
    w.slots(self, \.proj)
  }

  /// x [B, H, W, Cin] -> [B, Ho, Wo, Cout]
  func forward(_ x: Tensor) -> Tensor {
    preNorm ? proj.forward(norm.forward(x)) : norm.forward(proj.forward(x))
  }

  struct Saved {
    let convInput: Tensor  // [B, H, W, Cin]: proj input (the normalised input with pre-norm)
    let proj: LayerSaved
    let norm: LayerNormSaved
  }

  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, Saved) {
    if preNorm {
      let (normed, ns) = norm.forwardTrain(x)
      let (y, ps) = proj.forwardTrain(normed, ctx: ctx)
      return (y, Saved(convInput: normed, proj: ps, norm: ns))
    }
    let (convolved, ps) = proj.forwardTrain(x, ctx: ctx)
    let (y, ns) = norm.forwardTrain(convolved)
    return (y, Saved(convInput: x, proj: ps, norm: ns))
  }

  /// dy [B, Ho, Wo, Cout] -> dx [B, H, W, Cin]; nil without `inputGradient` (only the conv's own parameter
  /// gradients are formed: the stage 0 conv's input is the image).
  func backward(_ dy: Tensor, _ s: Saved, inputGradient: Bool = true) -> Tensor? {
    let dConv = preNorm ? dy : norm.backward(dy, s.norm)
    guard inputGradient else {
      proj.accumulateParameterGradients(dout: dConv, input: s.convInput, saved: s.proj)
      return nil
    }
    let dx = proj.backward(dout: dConv, input: s.convInput, saved: s.proj)
    return preNorm ? norm.backward(dx, s.norm) : dx
  }
}
