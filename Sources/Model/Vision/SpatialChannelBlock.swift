// transformers models/florence2/modeling_florence2.py: Florence2VisionSpatialBlock and
// Florence2VisionChannelBlock (remote code: SpatialBlock / ChannelBlock, whose sub-modules are Residual/PreNorm
// wrappers: `conv1.fn.dw`, `{window,channel}_attn.{norm,fn}`, `conv2.fn.dw`, `ffn.{norm,fn}`). The two blocks
// are one residual chain around different attentions, so they are one generic type here.
import FlrCore

/// The attention of a DaViT sub-block: window attention (spatial) or channel-group attention (channel).
protocol BlockAttention: AnyObject {
  associatedtype Saved
  /// x [B, H, W, C] (normalised) -> [B, H, W, C]
  func forward(_ x: Tensor) -> Tensor
  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, Saved)
  /// `input`: the forward's input, made only if the attention's qkv backward reads it.
  func backward(_ dy: Tensor, _ s: Saved, input: () -> Tensor) -> Tensor
}

extension WindowAttention: BlockAttention {}
extension ChannelAttention: BlockAttention {}

typealias SpatialBlock = SubBlock<WindowAttention>
typealias ChannelBlock = SubBlock<ChannelAttention>

/// x += dw1(x); x += DP(attn(LN(x))); x += dw2(x); x += DP(mlp(LN(x))). SPEC §3.3, §3.4, §3.5. Drop path
/// (rate `dropPath`, SPEC §3.15) applies only in training.
final class SubBlock<Attention: BlockAttention> {
  let conv1: DepthwiseConvLayer
  let attnNorm: LayerNormLayer
  let attn: Attention
  let conv2: DepthwiseConvLayer
  let ffnNorm: LayerNormLayer
  let ffn: Mlp
  let dropPath: Float

  /// `type` and `attentionName` are the reference's (`SpatialBlock`, `window_attn`).
  init(
    _ w: Weights, type: String, attentionName: String, dim: Int, mlpRatio: Float, dropPath: Float,
    attention: (Weights) -> Attention
  ) {
    w.module(type)
    conv1 = Self.depthwise(w.child("conv1"), dim: dim)
    let a = w.child(attentionName)
    a.module("PreNorm")
    attnNorm = LayerNormLayer(a.child("norm"), dim: dim)
    attn = attention(a.child("fn"))
    a.child("drop_path").module(dropPath > 0 ? "DropPath" : "Identity")
    conv2 = Self.depthwise(w.child("conv2"), dim: dim)
    let f = w.child("ffn")
    f.module("PreNorm")
    ffnNorm = LayerNormLayer(f.child("norm"), dim: dim)
    ffn = Mlp(f.child("fn"), dim: dim, ratio: mlpRatio)
    f.child("drop_path").module(dropPath > 0 ? "DropPath" : "Identity")
    self.dropPath = dropPath
  }

  /// `conv1` / `conv2`: PreNorm(None, DepthWiseConv2d) around the depthwise conv `fn.dw`.
  private static func depthwise(_ w: Weights, dim: Int) -> DepthwiseConvLayer {
    w.module("PreNorm")
    w.child("fn").module("DepthWiseConv2d")
    return DepthwiseConvLayer(w.child("fn").child("dw"), channels: dim)
  }

  /// x [B, H, W, C] -> [B, H, W, C]
  func forward(_ x: Tensor) -> Tensor {
    let afterConv1 = conv1.forward(x)
    addResidual(afterConv1, x)
    let afterAttn = attn.forward(attnNorm.forward(afterConv1))
    addResidual(afterAttn, afterConv1)
    let afterConv2 = conv2.forward(afterAttn)
    addResidual(afterConv2, afterAttn)
    let out = ffn.forward(ffnNorm.forward(afterConv2))
    addResidual(out, afterConv2)
    return out
  }

  /// What backward reads, kept lean (the vision tower's activations are most of a step's memory): the block
  /// input and the conv2 input are not kept (a frozen depthwise conv's input gradient does not read its
  /// input), and the two LayerNorm outputs and the GELU output are recomputed in backward from what is kept
  /// (one cheap pass each; bitwise the forward's).
  struct Saved {
    let afterConv1: Tensor  // x + dw1(x): the attention branch's LayerNorm input
    let attnNorm: LayerNormSaved
    let attn: Attention.Saved
    let attnDrop: [Float]?
    let afterConv2: Tensor  // the MLP branch's LayerNorm input
    let ffnNorm: LayerNormSaved
    let ffn: Mlp.Saved
    let ffnDrop: [Float]?
  }

  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, Saved) {
    let afterConv1 = conv1.forward(x)
    addResidual(afterConv1, x)
    let (normed, attnNormSaved) = attnNorm.forwardTrain(afterConv1)
    let (afterAttn, attnSaved) = attn.forwardTrain(normed, ctx: ctx)
    let attnDrop = ctx.dropPath(afterAttn, rate: dropPath)
    addResidual(afterAttn, afterConv1)
    let afterConv2 = conv2.forward(afterAttn)
    addResidual(afterConv2, afterAttn)
    let (normed2, ffnNormSaved) = ffnNorm.forwardTrain(afterConv2)
    let (out, ffnSaved) = ffn.forwardTrain(normed2, ctx: ctx)
    let ffnDrop = ctx.dropPath(out, rate: dropPath)
    addResidual(out, afterConv2)
    return (
      out,
      Saved(
        afterConv1: afterConv1, attnNorm: attnNormSaved, attn: attnSaved, attnDrop: attnDrop, afterConv2: afterConv2,
        ffnNorm: ffnNormSaved, ffn: ffnSaved, ffnDrop: ffnDrop)
    )
  }

  /// dy [B, H, W, C] -> dx
  func backward(_ dy: Tensor, _ s: Saved) -> Tensor {
    // out = afterConv2 + DP(mlp(LN(afterConv2)))
    let dMlp = ffn.backward(dropPathBackward(dy, factors: s.ffnDrop), s.ffn, input: { ffnNorm.forward(s.afterConv2) })
    let dAfterConv2 = ffnNorm.backward(dMlp, s.ffnNorm)
    addResidual(dAfterConv2, dy)
    // afterConv2 = afterAttn + dw2(afterAttn)
    let dAfterAttn = conv2.backward(dAfterConv2)
    addResidual(dAfterAttn, dAfterConv2)
    // afterAttn = afterConv1 + DP(attn(LN(afterConv1)))
    let dAttn = attn.backward(
      dropPathBackward(dAfterAttn, factors: s.attnDrop), s.attn, input: { attnNorm.forward(s.afterConv1) })
    let dAfterConv1 = attnNorm.backward(dAttn, s.attnNorm)
    addResidual(dAfterConv1, dAfterAttn)
    // afterConv1 = x + dw1(x)
    let dx = conv1.backward(dAfterConv1)
    addResidual(dx, dAfterConv1)
    return dx
  }
}

extension SubBlock where Attention == WindowAttention {
  convenience init(_ w: Weights, config: VisionConfig, stage i: Int, dropPath: Float) {
    let dim = config.dimEmbed[i]
    self.init(
      w, type: "SpatialBlock", attentionName: "window_attn", dim: dim, mlpRatio: config.mlpRatio, dropPath: dropPath
    ) { WindowAttention($0, dim: dim, heads: config.numHeads[i], window: config.windowSize) }
  }
}

extension SubBlock where Attention == ChannelAttention {
  convenience init(_ w: Weights, config: VisionConfig, stage i: Int, dropPath: Float) {
    let dim = config.dimEmbed[i]
    self.init(
      w, type: "ChannelBlock", attentionName: "channel_attn", dim: dim, mlpRatio: config.mlpRatio, dropPath: dropPath
    ) { ChannelAttention($0, dim: dim, groups: config.numGroups[i]) }
  }
}
