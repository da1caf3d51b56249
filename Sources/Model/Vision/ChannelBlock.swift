// transformers models/florence2/modeling_florence2.py: Florence2VisionChannelBlock (remote code: ChannelBlock:
// `conv1.fn.dw`, `channel_attn.{norm,fn}`, `conv2.fn.dw`, `ffn.{norm,fn.net}`).
import FlrCore

/// The spatial block's shape with channel-group attention in place of window attention. SPEC §3.3, §3.5.
/// Drop path (rate `dropPath`) applies only in training; this forward is the inference one (identity).
final class ChannelBlock {
  let conv1: DepthwiseConvLayer
  let channelAttnNorm: LayerNormLayer
  let channelAttn: ChannelAttention
  let conv2: DepthwiseConvLayer
  let ffnNorm: LayerNormLayer
  let ffn: Mlp
  let dropPath: Float

  init(_ w: Weights, config: VisionConfig, stage i: Int, dropPath: Float) {
    let dim = config.dimEmbed[i]
    conv1 = DepthwiseConvLayer(w.child("conv1").child("fn").child("dw"), channels: dim)
    channelAttnNorm = LayerNormLayer(w.child("channel_attn").child("norm"), dim: dim)
    channelAttn = ChannelAttention(w.child("channel_attn").child("fn"), dim: dim, groups: config.numGroups[i])
    conv2 = DepthwiseConvLayer(w.child("conv2").child("fn").child("dw"), channels: dim)
    ffnNorm = LayerNormLayer(w.child("ffn").child("norm"), dim: dim)
    ffn = Mlp(w.child("ffn").child("fn").child("net"), dim: dim, ratio: config.mlpRatio)
    self.dropPath = dropPath
  }

  /// x [B, H, W, C] -> [B, H, W, C]
  func forward(_ x: Tensor) -> Tensor {
    let afterConv1 = conv1.forward(x)
    addResidual(afterConv1, x)
    let afterAttn = channelAttn.forward(channelAttnNorm.forward(afterConv1), batch: x.shape[0])
    addResidual(afterAttn, afterConv1)
    let afterConv2 = conv2.forward(afterAttn)
    addResidual(afterConv2, afterAttn)
    let out = ffn.forward(ffnNorm.forward(afterConv2))
    addResidual(out, afterConv2)
    return out
  }
}
