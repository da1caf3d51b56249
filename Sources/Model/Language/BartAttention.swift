// transformers models/bart/modeling_bart.py: BartAttention (eager path). Key path: `self_attn` /
// `encoder_attn` of a layer, with k_proj, v_proj, q_proj, out_proj (all with bias). Training: the four
// projections' backward(dout:input:) lets an adapter in a slot accumulate its own gradients; base weights are
// frozen.
import FlrCore

/// Multi-head attention, heads split as channel = head·hd + j, scores scaled by hd^(-1/2), no dropout at
/// inference. SPEC §3.12. (The reference scales q after its bias; scaling the scores is the same product.)
final class BartAttention {
  var qProj: LinearLayer, kProj: LinearLayer, vProj: LinearLayer, outProj: LinearLayer
  let dim: Int, heads: Int, headDim: Int
  var scale: Float { 1 / Float(headDim).squareRoot() }

  init(_ w: Weights, dim: Int, heads: Int) {
    w.module("Florence2Attention")
    self.dim = dim
    self.heads = heads
    headDim = dim / heads
    kProj = LinearLayer(w.child("k_proj"), in: dim, out: dim)
    vProj = LinearLayer(w.child("v_proj"), in: dim, out: dim)
    qProj = LinearLayer(w.child("q_proj"), in: dim, out: dim)
    outProj = LinearLayer(w.child("out_proj"), in: dim, out: dim)
    w.slots(self, \.kProj, \.vProj, \.qProj, \.outProj)
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

  /// Inference runs the kernel that keeps no probabilities (no [B, H, Tq, Tk] buffer); training does not keep
  /// them either (backward recomputes them).
  private func attend(_ q: Tensor, keys: Tensor, values: Tensor, batch: Int, keyLength: Int, causal: Bool) -> Tensor {
    let tq = q.count / (batch * dim)
    let attended = Tensor(uninitialized: q.shape)
    Attention.forwardInference(
      out: attended.data, outStride: dim, q: q.data, qStride: dim, k: keys.data, kStride: dim, v: values.data,
      vStride: dim, batch: batch, heads: heads, queryLength: tq, keyLength: keyLength, headDim: headDim, scale: scale,
      causal: causal)
    return outProj.forward(attended)
  }

  /// Activations BartAttention's backward reads.
  struct Saved {
    let queryInput: Tensor  // [B, Tq, d]: input of q_proj
    let keyValueInput: Tensor  // [B, Tk, d]: input of k_proj / v_proj (the same tensor for self-attention)
    let q: Tensor, k: Tensor, v: Tensor  // [B, Tq|Tk, d]
    let attended: Tensor  // [B, Tq, d]: input of out_proj
    let dropout: AttentionDropout?  // the probabilities' dropout: backward redraws its masks
    let batch: Int, causal: Bool
    let qProj: LayerSaved, kProj: LayerSaved, vProj: LayerSaved, outProj: LayerSaved
  }

  /// queries from x [B, Tq, d], keys/values from kvInput [B, Tk, d] (x itself for self-attention) -> [B, Tq, d].
  /// `dropout`: config.attention_dropout, applied to the probabilities when the context's dropout is on.
  func forwardTrain(
    _ x: Tensor, keyValueInput kvInput: Tensor, batch: Int, causal: Bool, dropout p: Float, ctx: TrainingContext
  ) -> (Tensor, Saved) {
    let (q, qSaved) = qProj.forwardTrain(x, ctx: ctx)
    let (k, kSaved) = kProj.forwardTrain(kvInput, ctx: ctx)
    let (v, vSaved) = vProj.forwardTrain(kvInput, ctx: ctx)
    let tq = x.count / (batch * dim), tk = kvInput.count / (batch * dim)
    let attended = Tensor(uninitialized: q.shape)
    let dropout = ctx.attentionDropout(p: p)
    Attention.forward(
      out: attended.data, outStride: dim, probs: nil, q: q.data, qStride: dim, k: k.data, kStride: dim,
      v: v.data, vStride: dim, batch: batch, heads: heads, queryLength: tq, keyLength: tk, headDim: headDim,
      scale: scale, causal: causal, dropout: dropout)
    let (y, outSaved) = outProj.forwardTrain(attended, ctx: ctx)
    let saved = Saved(
      queryInput: x, keyValueInput: kvInput, q: q, k: k, v: v, attended: attended, dropout: dropout,
      batch: batch, causal: causal, qProj: qSaved, kProj: kSaved, vProj: vSaved, outProj: outSaved)
    return (y, saved)
  }

  /// dy [B, Tq, d] -> (dQueryInput [B, Tq, d], dKeyValueInput [B, Tk, d]). For self-attention the caller adds
  /// the two (same input tensor).
  func backward(_ dy: Tensor, _ s: Saved) -> (Tensor, Tensor) {
    let tq = s.q.count / (s.batch * dim), tk = s.k.count / (s.batch * dim)
    let dAttended = outProj.backward(dout: dy, input: s.attended, saved: s.outProj)
    let dq = Tensor(uninitialized: s.q.shape), dk = Tensor(uninitialized: s.k.shape)
    let dv = Tensor(uninitialized: s.v.shape)
    Attention.backward(
      dq: dq.data, dk: dk.data, dv: dv.data, dout: dAttended.data, outStride: dim, probs: nil,
      q: s.q.data, qStride: dim, k: s.k.data, kStride: dim, v: s.v.data, vStride: dim, batch: s.batch, heads: heads,
      queryLength: tq, keyLength: tk, headDim: headDim, scale: scale, causal: s.causal, dropout: s.dropout,
      accumulate: false)
    let dx = qProj.backward(dout: dq, input: s.queryInput, saved: s.qProj)
    let dkv = kProj.backward(dout: dk, input: s.keyValueInput, saved: s.kProj)
    addResidual(dkv, vProj.backward(dout: dv, input: s.keyValueInput, saved: s.vProj))
    return (dx, dkv)
  }
}
