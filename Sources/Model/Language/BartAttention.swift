// transformers models/bart/modeling_bart.py: BartAttention (eager path). Key path: `self_attn` /
// `encoder_attn` of a layer, with q_proj, k_proj, v_proj, out_proj (all with bias).
import FlrCore

/// Multi-head attention, heads split as channel = head·hd + j, scores scaled by hd^(-1/2), no dropout at
/// inference. SPEC §3.12. (The reference scales q after its bias; scaling the scores is the same product.)
final class BartAttention {
  var qProj: LinearLayer, kProj: LinearLayer, vProj: LinearLayer, outProj: LinearLayer
  let dim: Int, heads: Int, headDim: Int
  var scale: Float { 1 / Float(headDim).squareRoot() }

  init(_ w: Weights, dim: Int, heads: Int) {
    self.dim = dim
    self.heads = heads
    headDim = dim / heads
    qProj = LinearLayer(w.child("q_proj"), in: dim, out: dim)
    kProj = LinearLayer(w.child("k_proj"), in: dim, out: dim)
    vProj = LinearLayer(w.child("v_proj"), in: dim, out: dim)
    outProj = LinearLayer(w.child("out_proj"), in: dim, out: dim)
  }

  /// Self-attention: x [B, T, d] -> [B, T, d]; `causal`: query i sees keys 0…i (the decoder).
  func forward(_ x: Tensor, batch: Int, causal: Bool) -> Tensor {
    let q = qProj.forward(x), k = kProj.forward(x), v = vProj.forward(x)
    return attend(q, keys: k, values: v, batch: batch, keyLength: x.count / (batch * dim), causal: causal)
  }

  /// Cross-attention: queries from x [B, T, d], keys/values [B, S, d] made by `keysValues` once per image.
  func forward(_ x: Tensor, keys: Tensor, values: Tensor, batch: Int) -> Tensor {
    attend(
      qProj.forward(x), keys: keys, values: values, batch: batch, keyLength: keys.count / (batch * dim),
      causal: false)
  }

  /// encoder output [B, S, d] -> (k, v), each [B, S, d]
  func keysValues(_ encoderOutput: Tensor) -> (Tensor, Tensor) {
    (kProj.forward(encoderOutput), vProj.forward(encoderOutput))
  }

  private func attend(_ q: Tensor, keys: Tensor, values: Tensor, batch: Int, keyLength: Int, causal: Bool) -> Tensor {
    let tq = q.count / (batch * dim)
    let attended = Tensor(uninitialized: q.shape)
    Attention.forwardInference(
      out: attended.data, outStride: dim, q: q.data, qStride: dim, k: keys.data, kStride: dim, v: values.data,
      vStride: dim, batch: batch, heads: heads, queryLength: tq, keyLength: keyLength, headDim: headDim, scale: scale,
      causal: causal)
    return outProj.forward(attended)
  }
}
