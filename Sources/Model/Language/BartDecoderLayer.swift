// transformers models/bart/modeling_bart.py: BartDecoderLayer (post-LN). Key path:
// language_model.model.decoder.layers.{n}. Three forwards: teacher forcing, one decoding step against the KV
// cache (DecoderState), and training with dropout; then backward.
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
    w.module("Florence2DecoderLayer")
    let d = config.dModel
    selfAttn = BartAttention(w.child("self_attn"), dim: d, heads: config.decoderAttentionHeads)
    w.child("activation_fn").module("GELUActivation")
    selfAttnLayerNorm = LayerNormLayer(w.child("self_attn_layer_norm"), dim: d)
    encoderAttn = BartAttention(w.child("encoder_attn"), dim: d, heads: config.decoderAttentionHeads)
    encoderAttnLayerNorm = LayerNormLayer(w.child("encoder_attn_layer_norm"), dim: d)
    fc1 = LinearLayer(w.child("fc1"), in: d, out: config.decoderFfnDim)
    fc2 = LinearLayer(w.child("fc2"), in: config.decoderFfnDim, out: d)
    finalLayerNorm = LayerNormLayer(w.child("final_layer_norm"), dim: d)
    w.slots(self, \.fc1, \.fc2)
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

  /// One new token per row: h [rows, d] at position `state.length` (after state.beginStep()); appends this
  /// layer's self-attention key/value to the cache and reads the row's image's cross keys/values.
  func step(_ h: Tensor, layer l: Int, state: inout DecoderState) -> Tensor {
    let d = selfAttn.dim, rows = state.rows, heads = selfAttn.heads, hd = selfAttn.headDim
    let q = selfAttn.qProj.forward(h), k = selfAttn.kProj.forward(h), v = selfAttn.vProj.forward(h)
    state.append(layer: l, keys: k, values: v)
    // Self-attention: one work item per (row, head); row r's cached rows are gathered through its offsets.
    let keyLength = state.length + 1, selfKeys = state.selfKeys[l].data, selfValues = state.selfValues[l].data
    let attended = Tensor(uninitialized: [rows, d])
    state.selfOffsets.withUnsafeBufferPointer { offsets in
      Threads.parallelFor(rows * heads) { rh in
        let r = rh / heads, c = (rh % heads) * hd
        Scratch.withFloats(keyLength) { scores in
          Attention.stepGathered(
            out: attended.data + r * d + c, q: q.data + r * d + c, k: selfKeys + c, v: selfValues + c,
            rowOffsets: offsets.baseAddress! + r * keyLength, keyLength: keyLength, headDim: hd,
            scale: selfAttn.scale, scores: scores)
        }
      }
    }
    let a = selfAttn.outProj.forward(attended)
    addResidual(a, h)
    let h1 = selfAttnLayerNorm.forward(a)

    // Cross-attention: one work item per (run of rows of one image, head), each key read once per run.
    let cq = encoderAttn.qProj.forward(h1)
    let keysT = state.crossKeysT[l], values = state.crossValues[l], s = state.encoderLength
    let padded = Attention.paddedLength(s), bf16 = state.crossCacheIsBF16
    let imageOfRow = state.imageOfRow, runs = Self.runs(imageOfRow)
    let crossAttended = Tensor(uninitialized: [rows, d])
    Threads.parallelFor(runs.count * heads) { item in
      let run = runs[item / heads], head = item % heads, c = head * hd, image = imageOfRow[run.lowerBound]
      let keysAt = (image * heads + head) * hd * padded, valuesAt = (image * heads + head) * s * hd
      let out = crossAttended.data + run.lowerBound * d + c, q = cq.data + run.lowerBound * d + c
      Scratch.withFloats(run.count * padded) { scores in
        if bf16 {
          Attention.stepSharedKeysBF16(
            out: out, outStride: d, q: q, qStride: d, queries: run.count,
            keysT: Attention.bf16Values(keysT) + keysAt, v: Attention.bf16Values(values) + valuesAt, vStride: hd,
            keyLength: s, headDim: hd, scale: encoderAttn.scale, scores: scores)
        } else {
          Attention.stepSharedKeys(
            out: out, outStride: d, q: q, qStride: d, queries: run.count, keysT: keysT.data + keysAt,
            v: values.data + valuesAt, vStride: hd, keyLength: s, headDim: hd, scale: encoderAttn.scale,
            scores: scores)
        }
      }
    }
    let c = encoderAttn.outProj.forward(crossAttended)
    addResidual(c, h1)
    let h2 = encoderAttnLayerNorm.forward(c)
    let f = feedForward(h2, fc1: fc1, fc2: fc2)
    addResidual(f, h2)
    return finalLayerNorm.forward(f)
  }

  /// Consecutive rows of the same image (the beams of one image are adjacent).
  static func runs(_ imageOfRow: [Int]) -> [Range<Int>] {
    var runs: [Range<Int>] = []
    var start = 0
    for r in 1...imageOfRow.count where r == imageOfRow.count || imageOfRow[r] != imageOfRow[start] {
      runs.append(start..<r)
      start = r
    }
    return runs
  }

  struct Saved {
    let selfAttn: BartAttention.Saved, selfNorm: PostNormSaved
    let crossAttn: BartAttention.Saved, crossNorm: PostNormSaved
    let ffn: FeedForwardSaved, finalNorm: PostNormSaved
  }

  /// h [B, T, d], encoder output [B, S, d] -> [B, T, d]
  func forwardTrain(_ h: Tensor, encoderOutput: Tensor, batch: Int, config: TextConfig, ctx: TrainingContext) -> (
    Tensor, Saved
  ) {
    let p = config.dropout
    let (a, sa) = selfAttn.forwardTrain(
      h, keyValueInput: h, batch: batch, causal: true, dropout: config.attentionDropout, ctx: ctx)
    let (h1, selfNorm) = selfAttnLayerNorm.residualTrain(a, h, dropout: p, ctx: ctx)
    let (c, ca) = encoderAttn.forwardTrain(
      h1, keyValueInput: encoderOutput, batch: batch, causal: false, dropout: config.attentionDropout, ctx: ctx)
    let (h2, crossNorm) = encoderAttnLayerNorm.residualTrain(c, h1, dropout: p, ctx: ctx)
    let (f, ffn) = feedForwardTrain(h2, fc1: fc1, fc2: fc2, dropout: config.activationDropout, ctx: ctx)
    let (out, finalNorm) = finalLayerNorm.residualTrain(f, h2, dropout: p, ctx: ctx)
    let saved = Saved(
      selfAttn: sa, selfNorm: selfNorm, crossAttn: ca, crossNorm: crossNorm, ffn: ffn, finalNorm: finalNorm)
    return (out, saved)
  }

  /// dy [B, T, d] -> dh [B, T, d]; the encoder output's gradient (through cross-attention k/v) is ADDED to
  /// dEncoderOutput [B, S, d].
  func backward(_ dy: Tensor, _ s: Saved, dEncoderOutput: Tensor) -> Tensor {
    let (dF, dSum3) = finalLayerNorm.residualBackward(dy, s.finalNorm)
    let dh2 = feedForwardBackward(dF, s.ffn, fc1: fc1, fc2: fc2)
    addResidual(dh2, dSum3)
    let (dC, dSum2) = encoderAttnLayerNorm.residualBackward(dh2, s.crossNorm)
    let (dh1, dEnc) = encoderAttn.backward(dC, s.crossAttn)
    addResidual(dEncoderOutput, dEnc)
    addResidual(dh1, dSum2)
    let (dA, dSum1) = selfAttnLayerNorm.residualBackward(dh1, s.selfNorm)
    let (dq, dkv) = selfAttn.backward(dA, s.selfAttn)
    addResidual(dq, dkv)
    addResidual(dq, dSum1)
    return dq
  }
}
