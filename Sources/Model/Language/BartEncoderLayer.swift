// transformers models/bart/modeling_bart.py: BartEncoderLayer (post-LN). Key path:
// language_model.model.encoder.layers.{n}. Training: dropout (config.dropout on each residual branch,
// activation_dropout after GELU, attention_dropout on the attention probabilities) and backward.
import FlrCore

/// h = LN(h + self_attn(h)); h = LN(h + fc2(gelu(fc1(h)))). Dropouts are identity at inference. SPEC §3.10.
final class BartEncoderLayer {
  let selfAttn: BartAttention
  let selfAttnLayerNorm: LayerNormLayer
  var fc1: LinearLayer, fc2: LinearLayer
  let finalLayerNorm: LayerNormLayer

  init(_ w: Weights, config: TextConfig) {
    w.module("Florence2EncoderLayer")
    let d = config.dModel
    selfAttn = BartAttention(w.child("self_attn"), dim: d, heads: config.encoderAttentionHeads)
    selfAttnLayerNorm = LayerNormLayer(w.child("self_attn_layer_norm"), dim: d)
    w.child("activation_fn").module("GELUActivation")
    fc1 = LinearLayer(w.child("fc1"), in: d, out: config.encoderFfnDim)
    fc2 = LinearLayer(w.child("fc2"), in: config.encoderFfnDim, out: d)
    finalLayerNorm = LayerNormLayer(w.child("final_layer_norm"), dim: d)
    w.slots(self, \.fc1, \.fc2)
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

  struct Saved {
    let attn: BartAttention.Saved, attnNorm: PostNormSaved
    let ffn: FeedForwardSaved, finalNorm: PostNormSaved
  }

  /// h [B, S, d] -> [B, S, d]
  func forwardTrain(_ h: Tensor, batch: Int, config: TextConfig, ctx: TrainingContext) -> (Tensor, Saved) {
    let (a, attn) = selfAttn.forwardTrain(
      h, keyValueInput: h, batch: batch, causal: false, dropout: config.attentionDropout, ctx: ctx)
    let (h1, attnNorm) = selfAttnLayerNorm.residualTrain(a, h, dropout: config.dropout, ctx: ctx)
    let (f, ffn) = feedForwardTrain(h1, fc1: fc1, fc2: fc2, dropout: config.activationDropout, ctx: ctx)
    let (out, finalNorm) = finalLayerNorm.residualTrain(f, h1, dropout: config.dropout, ctx: ctx)
    return (out, Saved(attn: attn, attnNorm: attnNorm, ffn: ffn, finalNorm: finalNorm))
  }

  /// dy [B, S, d] -> dh
  func backward(_ dy: Tensor, _ s: Saved) -> Tensor {
    let (dF, dSum2) = finalLayerNorm.residualBackward(dy, s.finalNorm)  // d f, d(h1 + f)
    let dh1 = feedForwardBackward(dF, s.ffn, fc1: fc1, fc2: fc2)
    addResidual(dh1, dSum2)
    let (dA, dSum1) = selfAttnLayerNorm.residualBackward(dh1, s.attnNorm)  // d a, d(h + a)
    let (dq, dkv) = selfAttn.backward(dA, s.attn)
    addResidual(dq, dkv)
    addResidual(dq, dSum1)
    return dq
  }
}

/// What BART's post-LN residual step LN(h + dropout(branch)) keeps in training.
struct PostNormSaved {
  let mask: Tensor?  // the branch's dropout
  let norm: LayerNormSaved
}

extension LayerNormLayer {
  /// LN(residual + dropout(branch)) in training (config.dropout on the branch); `branch` is overwritten.
  func residualTrain(_ branch: Tensor, _ residual: Tensor, dropout p: Float, ctx: TrainingContext) -> (
    Tensor, PostNormSaved
  ) {
    let mask = ctx.dropout(branch, p: p)
    addResidual(branch, residual)
    let (y, norm) = forwardTrain(branch)
    return (y, PostNormSaved(mask: mask, norm: norm))
  }

  /// dy -> (d branch, d(residual + branch), which is d residual)
  func residualBackward(_ dy: Tensor, _ s: PostNormSaved) -> (branch: Tensor, sum: Tensor) {
    let dSum = backward(dy, s.norm)
    return (dropoutBackward(dSum, mask: s.mask), dSum)
  }
}

/// fc2(gelu(fc1(x))), BART's position-wise feed-forward (activation dropout is identity at inference).
func feedForward(_ x: Tensor, fc1: LinearLayer, fc2: LinearLayer) -> Tensor { fc2.forward(fc1.forwardGelu(x)) }

/// BART's fc2(dropout(gelu(fc1(x)))). fc2's input is recomputed in backward when an adapted fc2 reads it.
struct FeedForwardSaved {
  let input: Tensor  // [rows, d]: fc1 input
  let preActivation: Tensor  // [rows, F]: fc1 output
  let mask: Tensor?
  let fc1: LayerSaved, fc2: LayerSaved
}

func feedForwardTrain(_ x: Tensor, fc1: LinearLayer, fc2: LinearLayer, dropout p: Float, ctx: TrainingContext) -> (
  Tensor, FeedForwardSaved
) {
  let (pre, fc1Saved) = fc1.forwardTrain(x, ctx: ctx)
  let activated = Tensor(uninitialized: pre.shape)
  Gelu.forward(out: activated.data, inp: pre.data, count: pre.count)
  let mask = ctx.dropout(activated, p: p)
  let (y, fc2Saved) = fc2.forwardTrain(activated, ctx: ctx)
  return (y, FeedForwardSaved(input: x, preActivation: pre, mask: mask, fc1: fc1Saved, fc2: fc2Saved))
}

func feedForwardBackward(_ dy: Tensor, _ s: FeedForwardSaved, fc1: LinearLayer, fc2: LinearLayer) -> Tensor {
  var activated = s.preActivation  // same shape: stands in where a frozen fc2 does not read its input
  if fc2.backwardReadsInput {  // the forward's gelu, then the same mask: bitwise the forward's fc2 input
    activated = Tensor(uninitialized: s.preActivation.shape)
    Gelu.forward(out: activated.data, inp: s.preActivation.data, count: activated.count)
    if let mask = s.mask { Elementwise.mul(out: activated.data, a: activated.data, b: mask.data, count: mask.count) }
  }
  let dActivated = dropoutBackward(fc2.backward(dout: dy, input: activated, saved: s.fc2), mask: s.mask)
  let dPre = Tensor(uninitialized: s.preActivation.shape)
  Gelu.backward(
    dinp: dPre.data, dout: dActivated.data, inp: s.preActivation.data, count: dPre.count, accumulate: false)
  return fc1.backward(dout: dPre, input: s.input, saved: s.fc1)
}
