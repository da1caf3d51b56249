// transformers models/bart/modeling_bart.py: BartDecoderLayer (post-LN). Key path:
// language_model.model.decoder.layers.{n}.
import FlrCore

/// h = LN(h + causal self_attn(h)); h = LN(h + encoder_attn(h, encoder)); h = LN(h + ffn(h)). SPEC §3.11.
final class BartDecoderLayer {
  let selfAttn: BartAttention
  let selfAttnLayerNorm: LayerNormLayer
  let encoderAttn: BartAttention
  let encoderAttnLayerNorm: LayerNormLayer
  var fc1: LinearLayer, fc2: LinearLayer
  let finalLayerNorm: LayerNormLayer

  init(_ w: Weights, config: TextConfig) {
    let d = config.dModel
    selfAttn = BartAttention(w.child("self_attn"), dim: d, heads: config.decoderAttentionHeads)
    selfAttnLayerNorm = LayerNormLayer(w.child("self_attn_layer_norm"), dim: d)
    encoderAttn = BartAttention(w.child("encoder_attn"), dim: d, heads: config.decoderAttentionHeads)
    encoderAttnLayerNorm = LayerNormLayer(w.child("encoder_attn_layer_norm"), dim: d)
    fc1 = LinearLayer(w.child("fc1"), in: d, out: config.decoderFfnDim)
    fc2 = LinearLayer(w.child("fc2"), in: config.decoderFfnDim, out: d)
    finalLayerNorm = LayerNormLayer(w.child("final_layer_norm"), dim: d)
  }

  /// Teacher forcing: h [B, T, d], cross keys/values [B, S, d] -> [B, T, d]
  func forward(_ h: Tensor, crossKeys: Tensor, crossValues: Tensor, batch: Int) -> Tensor {
    let a = selfAttn.forward(h, batch: batch, causal: true)
    addResidual(a, h)
    let h1 = selfAttnLayerNorm.forward(a)
    let c = encoderAttn.forward(h1, keys: crossKeys, values: crossValues, batch: batch)
    addResidual(c, h1)
    let h2 = encoderAttnLayerNorm.forward(c)
    let f = feedForward(h2, fc1: fc1, fc2: fc2)
    addResidual(f, h2)
    return finalLayerNorm.forward(f)
  }

  /// One new token per row: h [rows, d] at position `state.length`; appends this layer's self-attention
  /// key/value to the cache and reads the row's image's cross keys/values.
  func step(_ h: Tensor, layer l: Int, state: inout DecoderState) -> Tensor {
    let d = selfAttn.dim, rows = state.rows, past = state.length
    let q = selfAttn.qProj.forward(h), k = selfAttn.kProj.forward(h), v = selfAttn.vProj.forward(h)
    state.append(layer: l, keys: k, values: v)
    let selfKeys = state.selfKeys[l], selfValues = state.selfValues[l], capacity = state.capacity
    let attended = Tensor(uninitialized: [rows, d])
    Threads.parallelFor(rows) { r in
      selfAttn.attendOne(
        out: attended.data + r * d, q: q.data + r * d, k: selfKeys.data + r * capacity * d,
        v: selfValues.data + r * capacity * d, keyLength: past + 1)
    }
    let a = selfAttn.outProj.forward(attended)
    addResidual(a, h)
    let h1 = selfAttnLayerNorm.forward(a)

    let cq = encoderAttn.qProj.forward(h1)
    let crossKeys = state.crossKeys[l], crossValues = state.crossValues[l], s = state.encoderLength
    let image = state.imageOfRow
    let crossAttended = Tensor(uninitialized: [rows, d])
    Threads.parallelFor(rows) { r in
      encoderAttn.attendOne(
        out: crossAttended.data + r * d, q: cq.data + r * d, k: crossKeys.data + image[r] * s * d,
        v: crossValues.data + image[r] * s * d, keyLength: s)
    }
    let c = encoderAttn.outProj.forward(crossAttended)
    addResidual(c, h1)
    let h2 = encoderAttnLayerNorm.forward(c)
    let f = feedForward(h2, fc1: fc1, fc2: fc2)
    addResidual(f, h2)
    return finalLayerNorm.forward(f)
  }
}
