// transformers models/florence2/modeling_florence2.py: Florence2VisionSpatialBlock (remote code: SpatialBlock,
// whose sub-modules are Residual/PreNorm wrappers: `conv1.fn.dw`, `window_attn.{norm,fn}`, `conv2.fn.dw`,
// `ffn.{norm,fn.net}`).
import FlrCore

/// x += dw1(x); x += attn(LN(x)); x += dw2(x); x += mlp(LN(x)) with window attention. SPEC §3.3.
/// Drop path (rate `dropPath`) applies only in training; this forward is the inference one (identity).
final class SpatialBlock {
  let conv1: DepthwiseConvLayer
  let windowAttnNorm: LayerNormLayer
  let windowAttn: WindowAttention
  let conv2: DepthwiseConvLayer
  let ffnNorm: LayerNormLayer
  let ffn: Mlp
  let dropPath: Float

  init(_ w: Weights, config: VisionConfig, stage i: Int, dropPath: Float) {
    let dim = config.dimEmbed[i]
    conv1 = DepthwiseConvLayer(w.child("conv1").child("fn").child("dw"), channels: dim)
    windowAttnNorm = LayerNormLayer(w.child("window_attn").child("norm"), dim: dim)
    windowAttn = WindowAttention(
      w.child("window_attn").child("fn"), dim: dim, heads: config.numHeads[i], window: config.windowSize)
    conv2 = DepthwiseConvLayer(w.child("conv2").child("fn").child("dw"), channels: dim)
    ffnNorm = LayerNormLayer(w.child("ffn").child("norm"), dim: dim)
    ffn = Mlp(w.child("ffn").child("fn").child("net"), dim: dim, ratio: config.mlpRatio)
    self.dropPath = dropPath
  }

  /// x [B, H, W, C] -> [B, H, W, C]
  func forward(_ x: Tensor) -> Tensor {
    let afterConv1 = conv1.forward(x)
    addResidual(afterConv1, x)
    let afterAttn = windowAttn.forward(windowAttnNorm.forward(afterConv1))
    addResidual(afterAttn, afterConv1)
    let afterConv2 = conv2.forward(afterAttn)
    addResidual(afterConv2, afterAttn)
    let out = ffn.forward(ffnNorm.forward(afterConv2))
    addResidual(out, afterConv2)
    return out
  }
}
