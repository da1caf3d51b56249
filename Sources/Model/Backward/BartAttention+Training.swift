// transformers models/bart/modeling_bart.py: BartAttention, training forward and backward. The four
// projections are LinearLayer (LoRA may stand in): backward calls their backward(dout:input:), so adapters
// accumulate their own gradients; base weights are frozen.
import FlrCore

/// Activations BartAttention's backward reads.
struct BartAttentionSaved {
  let queryInput: Tensor  // [B, Tq, d]: input of q_proj
  let keyValueInput: Tensor  // [B, Tk, d]: input of k_proj / v_proj (the same tensor for self-attention)
  let q: Tensor, k: Tensor, v: Tensor  // [B, Tq|Tk, d]
  let probs: Tensor  // [B, H, Tq, Tk]
  let attended: Tensor  // [B, Tq, d]: input of out_proj
  let dropout: AttentionDropout?  // the probabilities' dropout: backward redraws its masks
  let batch: Int, causal: Bool
}

extension BartAttention {
  /// queries from x [B, Tq, d], keys/values from kvInput [B, Tk, d] (x itself for self-attention) -> [B, Tq, d].
  /// `dropout`: config.attention_dropout, applied to the probabilities when the context's dropout is on.
  func forwardTrain(
    _ x: Tensor, keyValueInput kvInput: Tensor, batch: Int, causal: Bool, dropout p: Float, ctx: TrainingContext
  ) -> (Tensor, BartAttentionSaved) {
    let q = qProj.forward(x), k = kProj.forward(kvInput), v = vProj.forward(kvInput)
    let tq = x.count / (batch * dim), tk = kvInput.count / (batch * dim)
    let attended = Tensor(zeros: q.shape)
    let probs = Tensor(zeros: [batch, heads, tq, tk])  // undropped: the softmax backward reads these
    let dropout = ctx.attentionDropout(p: p)
    Attention.forward(
      out: attended.data, outStride: dim, probs: probs.data, q: q.data, qStride: dim, k: k.data, kStride: dim,
      v: v.data, vStride: dim, batch: batch, heads: heads, queryLength: tq, keyLength: tk, headDim: headDim,
      scale: scale, causal: causal, dropout: dropout)
    let saved = BartAttentionSaved(
      queryInput: x, keyValueInput: kvInput, q: q, k: k, v: v, probs: probs, attended: attended, dropout: dropout,
      batch: batch, causal: causal)
    return (outProj.forward(attended), saved)
  }

  /// dy [B, Tq, d] -> (dQueryInput [B, Tq, d], dKeyValueInput [B, Tk, d]). For self-attention the caller adds
  /// the two (same input tensor).
  func backward(_ dy: Tensor, _ s: BartAttentionSaved) -> (Tensor, Tensor) {
    let tq = s.q.count / (s.batch * dim), tk = s.k.count / (s.batch * dim)
    let dAttended = outProj.backward(dout: dy, input: s.attended)
    let dq = Tensor(zeros: s.q.shape), dk = Tensor(zeros: s.k.shape), dv = Tensor(zeros: s.v.shape)
    // Masked (causal) probabilities are exact zeros, so the softmax backward needs no mask.
    Attention.backward(
      dq: dq.data, dk: dk.data, dv: dv.data, dout: dAttended.data, outStride: dim, probs: s.probs.data,
      q: s.q.data, qStride: dim, k: s.k.data, kStride: dim, v: s.v.data, vStride: dim, batch: s.batch, heads: heads,
      queryLength: tq, keyLength: tk, headDim: headDim, scale: scale, dropout: s.dropout)
    let dx = qProj.backward(dout: dq, input: s.queryInput)
    let dkv = kProj.backward(dout: dk, input: s.keyValueInput)
    addResidual(dkv, vProj.backward(dout: dv, input: s.keyValueInput))
    return (dx, dkv)
  }
}
