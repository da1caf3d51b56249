// transformers models/bart/modeling_bart.py: BartEncoderLayer (post-LN). Key path:
// language_model.model.encoder.layers.{n}.
import FlrCore

/// h = LN(h + self_attn(h)); h = LN(h + fc2(gelu(fc1(h)))). Dropouts are identity at inference. SPEC §3.10.
final class BartEncoderLayer {
  let selfAttn: BartAttention
  let selfAttnLayerNorm: LayerNormLayer
  var fc1: LinearLayer, fc2: LinearLayer
  let finalLayerNorm: LayerNormLayer

  init(_ w: Weights, config: TextConfig) {
    let d = config.dModel
    selfAttn = BartAttention(w.child("self_attn"), dim: d, heads: config.encoderAttentionHeads)
    selfAttnLayerNorm = LayerNormLayer(w.child("self_attn_layer_norm"), dim: d)
    fc1 = LinearLayer(w.child("fc1"), in: d, out: config.encoderFfnDim)
    fc2 = LinearLayer(w.child("fc2"), in: config.encoderFfnDim, out: d)
    finalLayerNorm = LayerNormLayer(w.child("final_layer_norm"), dim: d)
  }

  /// h [B, S, d] -> [B, S, d]; no mask (the remote code's encoder mask is all ones, SPEC §3.9)
  func forward(_ h: Tensor, batch: Int) -> Tensor {
    let attn = selfAttn.forward(h, batch: batch, causal: false)
    addResidual(attn, h)
    let h1 = selfAttnLayerNorm.forward(attn)
    let f = feedForward(h1, fc1: fc1, fc2: fc2)
    addResidual(f, h1)
    return finalLayerNorm.forward(f)
  }
}

/// fc2(gelu(fc1(x))), BART's position-wise feed-forward (activation dropout is identity at inference).
func feedForward(_ x: Tensor, fc1: LinearLayer, fc2: LinearLayer) -> Tensor {
  let hidden = fc1.forward(x)
  Gelu.forward(out: hidden.data, inp: hidden.data, count: hidden.count)
  return fc2.forward(hidden)
}
