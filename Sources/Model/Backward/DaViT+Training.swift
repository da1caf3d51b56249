// transformers models/florence2/modeling_florence2.py: Florence2VisionSpatialBlock / ChannelBlock /
// ConvEmbed / Backbone, training forward (drop path per SPEC §3.3/§3.15) and backward. Depthwise convs and
// LayerNorms are frozen; only input gradients flow through them.
import FlrCore

/// x += dw1(x); x += DP(attn(LN(x))); x += dw2(x); x += DP(mlp(LN(x))): what backward reads. Kept lean (the
/// vision tower's activations are most of a step's memory): the block input and the conv2 input are not kept
/// (a frozen depthwise conv's input gradient does not read its input), and the two LayerNorm outputs and the
/// GELU output are recomputed in backward from what is kept (one cheap pass each; bitwise the forward's).
struct VisionBlockSaved<Attn> {
  let afterConv1: Tensor  // x + dw1(x): the attention branch's LayerNorm input
  let attnNorm: LayerNormSaved
  let attn: Attn
  let attnDrop: [Float]?
  let afterConv2: Tensor  // the MLP branch's LayerNorm input
  let ffnNorm: LayerNormSaved
  let ffn: MlpSaved
  let ffnDrop: [Float]?
}

extension SpatialBlock {
  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, VisionBlockSaved<WindowAttentionSaved>) {
    visionBlockForwardTrain(
      x, ctx: ctx, dropPath: dropPath, conv1: conv1, conv2: conv2, attnNorm: windowAttnNorm, ffnNorm: ffnNorm,
      ffn: ffn, attnForward: { windowAttn.forwardTrain($0) })
  }

  func backward(_ dy: Tensor, _ s: VisionBlockSaved<WindowAttentionSaved>) -> Tensor {
    visionBlockBackward(
      dy, s, conv1: conv1, conv2: conv2, attnNorm: windowAttnNorm, ffnNorm: ffnNorm, ffn: ffn,
      attnBackward: { windowAttn.backward($0, $1, input: $2) })
  }
}

extension ChannelBlock {
  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, VisionBlockSaved<ChannelAttentionSaved>) {
    visionBlockForwardTrain(
      x, ctx: ctx, dropPath: dropPath, conv1: conv1, conv2: conv2, attnNorm: channelAttnNorm, ffnNorm: ffnNorm,
      ffn: ffn, attnForward: { channelAttn.forwardTrain($0, batch: x.shape[0]) })
  }

  func backward(_ dy: Tensor, _ s: VisionBlockSaved<ChannelAttentionSaved>) -> Tensor {
    visionBlockBackward(
      dy, s, conv1: conv1, conv2: conv2, attnNorm: channelAttnNorm, ffnNorm: ffnNorm, ffn: ffn,
      attnBackward: { channelAttn.backward($0, $1, input: $2) })
  }
}

/// The shared residual chain of both block kinds (SPEC §3.3): x += dw(x); x += DP(attn(LN(x)));
/// x += dw(x); x += DP(mlp(LN(x))), keeping what `visionBlockBackward` needs.
func visionBlockForwardTrain<Attn>(
  _ x: Tensor, ctx: TrainingContext, dropPath: Float, conv1: DepthwiseConvLayer, conv2: DepthwiseConvLayer,
  attnNorm attnNormLayer: LayerNormLayer, ffnNorm ffnNormLayer: LayerNormLayer, ffn: Mlp,
  attnForward: (Tensor) -> (Tensor, Attn)
) -> (Tensor, VisionBlockSaved<Attn>) {
  let afterConv1 = conv1.forward(x)
  addResidual(afterConv1, x)
  let (normed, attnNorm) = attnNormLayer.forwardTrain(afterConv1)
  let (afterAttn, attn) = attnForward(normed)
  let attnDrop = ctx.dropPath(afterAttn, rate: dropPath)
  addResidual(afterAttn, afterConv1)
  let afterConv2 = conv2.forward(afterAttn)
  addResidual(afterConv2, afterAttn)
  let (normed2, ffnNorm) = ffnNormLayer.forwardTrain(afterConv2)
  let (out, ffnSaved) = ffn.forwardTrain(normed2)
  let ffnDrop = ctx.dropPath(out, rate: dropPath)
  addResidual(out, afterConv2)
  return (
    out,
    VisionBlockSaved(
      afterConv1: afterConv1, attnNorm: attnNorm, attn: attn, attnDrop: attnDrop, afterConv2: afterConv2,
      ffnNorm: ffnNorm, ffn: ffnSaved, ffnDrop: ffnDrop)
  )
}

/// The shared residual chain of both block kinds, in reverse. `attnBackward(dy, saved, recompute the input)`.
func visionBlockBackward<Attn>(
  _ dy: Tensor, _ s: VisionBlockSaved<Attn>, conv1: DepthwiseConvLayer, conv2: DepthwiseConvLayer,
  attnNorm: LayerNormLayer, ffnNorm: LayerNormLayer, ffn: Mlp, attnBackward: (Tensor, Attn, () -> Tensor) -> Tensor
) -> Tensor {
  // out = afterConv2 + DP(mlp(LN(afterConv2)))
  let dMlp = ffn.backward(dropPathBackward(dy, factors: s.ffnDrop), s.ffn, input: { ffnNorm.forward(s.afterConv2) })
  let dAfterConv2 = ffnNorm.backward(dMlp, s.ffnNorm)
  addResidual(dAfterConv2, dy)
  // afterConv2 = afterAttn + dw2(afterAttn)
  let dAfterAttn = conv2.backward(dAfterConv2)
  addResidual(dAfterAttn, dAfterConv2)
  // afterAttn = afterConv1 + DP(attn(LN(afterConv1)))
  let dAttn = attnBackward(
    dropPathBackward(dAfterAttn, factors: s.attnDrop), s.attn, { attnNorm.forward(s.afterConv1) })
  let dAfterConv1 = attnNorm.backward(dAttn, s.attnNorm)
  addResidual(dAfterConv1, dAfterAttn)
  // afterConv1 = x + dw1(x)
  let dx = conv1.backward(dAfterConv1)
  addResidual(dx, dAfterConv1)
  return dx
}

struct DaViTBlockSaved {
  let spatial: VisionBlockSaved<WindowAttentionSaved>
  let channel: VisionBlockSaved<ChannelAttentionSaved>
}

extension DaViTBlock {
  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, DaViTBlockSaved) {
    let (h, spatial) = spatialBlock.forwardTrain(x, ctx: ctx)
    let (y, channel) = channelBlock.forwardTrain(h, ctx: ctx)
    return (y, DaViTBlockSaved(spatial: spatial, channel: channel))
  }

  func backward(_ dy: Tensor, _ s: DaViTBlockSaved) -> Tensor {
    spatialBlock.backward(channelBlock.backward(dy, s.channel), s.spatial)
  }
}

struct ConvEmbedSaved {
  let input: Tensor  // [B, H, W, Cin]
  let convInput: Tensor  // proj input (the normalised input with pre-norm)
  let norm: LayerNormSaved
}

extension ConvEmbed {
  func forwardTrain(_ x: Tensor) -> (Tensor, ConvEmbedSaved) {
    if preNorm {
      let (normed, ns) = norm.forwardTrain(x)
      return (proj.forward(normed), ConvEmbedSaved(input: x, convInput: normed, norm: ns))
    }
    let (y, ns) = norm.forwardTrain(proj.forward(x))
    return (y, ConvEmbedSaved(input: x, convInput: x, norm: ns))
  }

  /// dy [B, Ho, Wo, Cout] -> dx [B, H, W, Cin]
  func backward(_ dy: Tensor, _ s: ConvEmbedSaved) -> Tensor {
    if preNorm { return norm.backward(proj.backward(dout: dy, input: s.convInput), s.norm) }
    return proj.backward(dout: norm.backward(dy, s.norm), input: s.convInput)
  }
}

/// One DaViT stage: patch embedding, then its blocks (each kept, or only its input with checkpointing).
/// `blocks` is consumed by backward, last first, so each block's activations are freed once used.
struct DaViTStageSaved {
  let embed: ConvEmbedSaved
  var blocks: [LayerActivations<DaViTBlockSaved>]
}

extension DaViT {
  /// Stage i's forward, keeping what its backward needs. `recompute`: keep only each block's input (and the
  /// random stream's state), recomputed block by block in backward, so at most one block's activations live.
  func stageTrain(_ i: Int, _ x: Tensor, ctx: TrainingContext, recompute: Bool = false) -> (Tensor, DaViTStageSaved) {
    var (h, embed) = convs[i].forwardTrain(x)
    var saved: [LayerActivations<DaViTBlockSaved>] = []
    for block in blocks[i] {
      if recompute { saved.append(.recompute(input: h, rng: ctx.rng)) }
      let (y, s) = block.forwardTrain(h, ctx: ctx)
      if !recompute { saved.append(.kept(s)) }
      h = y
    }
    return (h, DaViTStageSaved(embed: embed, blocks: saved))
  }

  /// dy [B, h, w, C_i] -> dx, the stage input's gradient (for stage 0: channels-last pixels). Empties
  /// `s.blocks` as it goes.
  func stageBackward(_ i: Int, _ dy: Tensor, _ s: inout DaViTStageSaved, ctx: TrainingContext) -> Tensor {
    var d = dy
    for block in blocks[i].reversed() {
      guard let activations = s.blocks.popLast() else { break }
      switch activations {
      case .kept(let saved): d = block.backward(d, saved)
      case .recompute(let input, let rng):
        ctx.rng = rng
        d = block.backward(d, block.forwardTrain(input, ctx: ctx).1)
      }
    }
    return convs[i].backward(d, s.embed)
  }
}

/// [B, H, W, C] -> [B, C, H, W] (the gradient of `channelsLast`)
func channelsFirst(_ x: Tensor) -> Tensor { x.permuted([0, 3, 1, 2]) }
