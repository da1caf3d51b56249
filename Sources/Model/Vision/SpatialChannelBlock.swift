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
  let conv1: DepthwiseConvLayer, attnNorm: LayerNormLayer, attn: Attention  // the attention half
  let conv2: DepthwiseConvLayer, ffnNorm: LayerNormLayer, ffn: Mlp  // the MLP half
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
    let h = half(x, conv1, attnNorm) { attn.forward($0) }
    return half(h, conv2, ffnNorm) { ffn.forward($0) }
  }

  /// One half of the block (attention, then MLP): x += dw(x); x += branch(LN(x)).
  private func half(
    _ x: Tensor, _ conv: DepthwiseConvLayer, _ norm: LayerNormLayer, _ branch: (Tensor) -> Tensor
  ) -> Tensor {
    let afterConv = conv.forward(x)
    addResidual(afterConv, x)
    let out = branch(norm.forward(afterConv))
    addResidual(out, afterConv)
    return out
  }

  /// What a half's backward reads, kept lean (the vision tower's activations are most of a step's memory):
  /// the half's input is not kept (a frozen depthwise conv's input gradient does not read its input), and the
  /// LayerNorm output is recomputed in backward from `afterConv` (one cheap pass; bitwise the forward's).
  struct HalfSaved<Branch> {
    let afterConv: Tensor  // x + dw(x): the branch's LayerNorm input
    let norm: LayerNormSaved
    let branch: Branch
    let drop: [Float]?  // drop-path factors per sample
  }

  struct Saved {
    let attention: HalfSaved<Attention.Saved>
    let mlp: HalfSaved<Mlp.Saved>
  }

  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, Saved) {
    let (h, attention) = halfTrain(x, conv1, attnNorm, ctx) { attn.forwardTrain($0, ctx: ctx) }
    let (out, mlp) = halfTrain(h, conv2, ffnNorm, ctx) { ffn.forwardTrain($0, ctx: ctx) }
    return (out, Saved(attention: attention, mlp: mlp))
  }

  /// forwardTrain's Saved without the block's output (a checkpoint recompute: backward reads neither the output
  /// nor the MLP's fc2 product that forms it, so fc2 does not run). The same draws from the step's stream.
  func savedWithoutOutput(_ x: Tensor, ctx: TrainingContext) -> Saved {
    let (h, attention) = halfTrain(x, conv1, attnNorm, ctx) { attn.forwardTrain($0, ctx: ctx) }
    let (afterConv, normed, norm) = halfInput(h, conv2, ffnNorm)
    let mlp = HalfSaved(
      afterConv: afterConv, norm: norm, branch: ffn.savedWithoutOutput(normed, ctx: ctx),
      drop: ctx.dropPathFactors(batch: h.shape[0], rate: dropPath))
    return Saved(attention: attention, mlp: mlp)
  }

  /// x += dw(x); x += DP(branch(LN(x))), keeping what `halfBackward` reads.
  private func halfTrain<Branch>(
    _ x: Tensor, _ conv: DepthwiseConvLayer, _ norm: LayerNormLayer, _ ctx: TrainingContext,
    _ branch: (Tensor) -> (Tensor, Branch)
  ) -> (Tensor, HalfSaved<Branch>) {
    let (afterConv, normed, normSaved) = halfInput(x, conv, norm)
    let (out, branchSaved) = branch(normed)
    let drop = ctx.dropPath(out, rate: dropPath)
    addResidual(out, afterConv)
    return (out, HalfSaved(afterConv: afterConv, norm: normSaved, branch: branchSaved, drop: drop))
  }

  /// A half's branch input: afterConv = x + dw(x), and LN(afterConv) with its statistics.
  private func halfInput(_ x: Tensor, _ conv: DepthwiseConvLayer, _ norm: LayerNormLayer) -> (
    afterConv: Tensor, normed: Tensor, norm: LayerNormSaved
  ) {
    let afterConv = conv.forward(x)
    addResidual(afterConv, x)
    let (normed, normSaved) = norm.forwardTrain(afterConv)
    return (afterConv, normed, normSaved)
  }

  /// dy [B, H, W, C] -> dx
  func backward(_ dy: Tensor, _ s: Saved) -> Tensor {
    let dh = halfBackward(dy, s.mlp, conv2, ffnNorm) { ffn.backward($0, $1, input: $2) }
    return halfBackward(dh, s.attention, conv1, attnNorm) { attn.backward($0, $1, input: $2) }
  }

  /// `branch(dy, saved, recompute its input)`.
  private func halfBackward<Branch>(
    _ dy: Tensor, _ s: HalfSaved<Branch>, _ conv: DepthwiseConvLayer, _ norm: LayerNormLayer,
    _ branch: (Tensor, Branch, () -> Tensor) -> Tensor
  ) -> Tensor {
    // out = afterConv + DP(branch(LN(afterConv)))
    let dBranch = branch(dropPathBackward(dy, factors: s.drop), s.branch, { norm.forward(s.afterConv) })
    let dAfterConv = norm.backward(dBranch, s.norm)
    addResidual(dAfterConv, dy)
    // afterConv = x + dw(x)
    let dx = conv.backward(dAfterConv)
    addResidual(dx, dAfterConv)
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
