// transformers models/bart/modeling_bart.py: BartEncoderLayer / BartDecoderLayer (post-LN) training forward
// with dropout (config.dropout on each residual branch, activation_dropout after GELU, attention_dropout on
// the attention probabilities) and backward.
import FlrCore

/// A layer's activations, or only what recomputing them needs (gradient checkpointing): its input and the
/// random stream's state at its start, so the replayed dropout masks are the same.
enum LayerActivations<Saved> {
  case kept(Saved)
  case recompute(input: Tensor, rng: SeededRNG)
}

/// BART's fc2(dropout(gelu(fc1(x)))). fc2's input is recomputed in backward when an adapted fc2 reads it.
struct FeedForwardSaved {
  let input: Tensor  // [rows, d]: fc1 input
  let preActivation: Tensor  // [rows, F]: fc1 output
  let mask: Tensor?
}

func feedForwardTrain(_ x: Tensor, fc1: LinearLayer, fc2: LinearLayer, dropout p: Float, ctx: TrainingContext) -> (
  Tensor, FeedForwardSaved
) {
  let pre = fc1.forward(x)
  let activated = Tensor(uninitialized: pre.shape)
  Gelu.forward(out: activated.data, inp: pre.data, count: pre.count)
  let mask = ctx.dropout(activated, p: p)
  return (fc2.forward(activated), FeedForwardSaved(input: x, preActivation: pre, mask: mask))
}

func feedForwardBackward(_ dy: Tensor, _ s: FeedForwardSaved, fc1: LinearLayer, fc2: LinearLayer) -> Tensor {
  var activated = s.preActivation  // same shape: stands in where a frozen fc2 does not read its input
  if fc2.backwardReadsInput {  // the forward's gelu, then the same mask: bitwise the forward's fc2 input
    activated = Tensor(uninitialized: s.preActivation.shape)
    Gelu.forward(out: activated.data, inp: s.preActivation.data, count: activated.count)
    if let mask = s.mask { Elementwise.mul(out: activated.data, a: activated.data, b: mask.data, count: mask.count) }
  }
  let dActivated = dropoutBackward(fc2.backward(dout: dy, input: activated), mask: s.mask)
  let dPre = Tensor(zeros: s.preActivation.shape)
  Gelu.backward(dinp: dPre.data, dout: dActivated.data, inp: s.preActivation.data, count: dPre.count)
  return fc1.backward(dout: dPre, input: s.input)
}

struct BartEncoderLayerSaved {
  let attn: BartAttentionSaved, attnMask: Tensor?, attnNorm: LayerNormSaved
  let ffn: FeedForwardSaved, ffnMask: Tensor?, finalNorm: LayerNormSaved
}

extension BartEncoderLayer {
  /// h [B, S, d] -> [B, S, d]
  func forwardTrain(_ h: Tensor, batch: Int, config: TextConfig, ctx: TrainingContext) -> (
    Tensor, BartEncoderLayerSaved
  ) {
    let (a, attn) = selfAttn.forwardTrain(
      h, keyValueInput: h, batch: batch, causal: false, dropout: config.attentionDropout, ctx: ctx)
    let attnMask = ctx.dropout(a, p: config.dropout)
    addResidual(a, h)
    let (h1, attnNorm) = selfAttnLayerNorm.forwardTrain(a)
    let (f, ffn) = feedForwardTrain(h1, fc1: fc1, fc2: fc2, dropout: config.activationDropout, ctx: ctx)
    let ffnMask = ctx.dropout(f, p: config.dropout)
    addResidual(f, h1)
    let (out, finalNorm) = finalLayerNorm.forwardTrain(f)
    return (
      out,
      BartEncoderLayerSaved(
        attn: attn, attnMask: attnMask, attnNorm: attnNorm, ffn: ffn, ffnMask: ffnMask, finalNorm: finalNorm)
    )
  }

  /// dy [B, S, d] -> dh
  func backward(_ dy: Tensor, _ s: BartEncoderLayerSaved) -> Tensor {
    let dSum2 = finalLayerNorm.backward(dy, s.finalNorm)  // d(h1 + f)
    let dh1 = feedForwardBackward(dropoutBackward(dSum2, mask: s.ffnMask), s.ffn, fc1: fc1, fc2: fc2)
    addResidual(dh1, dSum2)
    let dSum1 = selfAttnLayerNorm.backward(dh1, s.attnNorm)  // d(h + a)
    let (dq, dkv) = selfAttn.backward(dropoutBackward(dSum1, mask: s.attnMask), s.attn)
    addResidual(dq, dkv)
    addResidual(dq, dSum1)
    return dq
  }
}

struct BartDecoderLayerSaved {
  let selfAttn: BartAttentionSaved, selfMask: Tensor?, selfNorm: LayerNormSaved
  let crossAttn: BartAttentionSaved, crossMask: Tensor?, crossNorm: LayerNormSaved
  let ffn: FeedForwardSaved, ffnMask: Tensor?, finalNorm: LayerNormSaved
}

extension BartDecoderLayer {
  /// h [B, T, d], encoder output [B, S, d] -> [B, T, d]
  func forwardTrain(_ h: Tensor, encoderOutput: Tensor, batch: Int, config: TextConfig, ctx: TrainingContext) -> (
    Tensor, BartDecoderLayerSaved
  ) {
    let (a, sa) = selfAttn.forwardTrain(
      h, keyValueInput: h, batch: batch, causal: true, dropout: config.attentionDropout, ctx: ctx)
    let selfMask = ctx.dropout(a, p: config.dropout)
    addResidual(a, h)
    let (h1, selfNorm) = selfAttnLayerNorm.forwardTrain(a)
    let (c, ca) = encoderAttn.forwardTrain(
      h1, keyValueInput: encoderOutput, batch: batch, causal: false, dropout: config.attentionDropout, ctx: ctx)
    let crossMask = ctx.dropout(c, p: config.dropout)
    addResidual(c, h1)
    let (h2, crossNorm) = encoderAttnLayerNorm.forwardTrain(c)
    let (f, ffn) = feedForwardTrain(h2, fc1: fc1, fc2: fc2, dropout: config.activationDropout, ctx: ctx)
    let ffnMask = ctx.dropout(f, p: config.dropout)
    addResidual(f, h2)
    let (out, finalNorm) = finalLayerNorm.forwardTrain(f)
    return (
      out,
      BartDecoderLayerSaved(
        selfAttn: sa, selfMask: selfMask, selfNorm: selfNorm, crossAttn: ca, crossMask: crossMask,
        crossNorm: crossNorm, ffn: ffn, ffnMask: ffnMask, finalNorm: finalNorm)
    )
  }

  /// dy [B, T, d] -> dh [B, T, d]; the encoder output's gradient (through cross-attention k/v) is ADDED to
  /// dEncoderOutput [B, S, d].
  func backward(_ dy: Tensor, _ s: BartDecoderLayerSaved, dEncoderOutput: Tensor) -> Tensor {
    let dSum3 = finalLayerNorm.backward(dy, s.finalNorm)
    let dh2 = feedForwardBackward(dropoutBackward(dSum3, mask: s.ffnMask), s.ffn, fc1: fc1, fc2: fc2)
    addResidual(dh2, dSum3)
    let dSum2 = encoderAttnLayerNorm.backward(dh2, s.crossNorm)
    let (dh1, dEnc) = encoderAttn.backward(dropoutBackward(dSum2, mask: s.crossMask), s.crossAttn)
    addResidual(dEncoderOutput, dEnc)
    addResidual(dh1, dSum2)
    let dSum1 = selfAttnLayerNorm.backward(dh1, s.selfNorm)
    let (dq, dkv) = selfAttn.backward(dropoutBackward(dSum1, mask: s.selfMask), s.selfAttn)
    addResidual(dq, dkv)
    addResidual(dq, dSum1)
    return dq
  }
}
