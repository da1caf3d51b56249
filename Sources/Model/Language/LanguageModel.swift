// Remote code: Florence2LanguageForConditionalGeneration (BartForConditionalGeneration with its BartModel
// inlined): `language_model.model.{shared,encoder,decoder}`, `language_model.lm_head` (tied to shared),
// `language_model.final_logits_bias`. transformers 5: Florence2Model.language_model + lm_head.
import FlrCore

public final class LanguageModel {
  /// [V, d]: the token embedding of encoder and decoder and, while tied, the LM head's weight (one tensor).
  public let shared: Tensor
  public let encoder: BartEncoder
  public let decoder: BartDecoder
  public let finalLogitsBias: Tensor  // [1, V]
  public let vocabSize: Int, dim: Int
  let embedScale: Float
  /// `language_model.lm_head`, nn.Linear(d, V, bias=False). A slot (like every Linear) so a LoRA layer can
  /// stand in for it. Tied (tie_word_embeddings): a LinearLayer over `shared` itself, so the head and the
  /// embedding lookups read one tensor. Untied (a checkpoint saved with tie_word_embeddings false, or a merged
  /// lm_head LoRA): a weight of its own, the embeddings unchanged.
  public var lmHead: LinearLayer

  init(_ w: Weights, config: TextConfig) {
    vocabSize = config.vocabSize
    dim = config.dModel
    embedScale = config.scaleEmbedding ? Float(config.dModel).squareRoot() : 1
    w.module("Florence2LanguageForConditionalGeneration")
    let model = w.child("model")
    model.module("Florence2LanguageModel")
    model.child("shared").module("Embedding")
    shared = model.child("shared")("weight", [vocabSize, dim])
    encoder = BartEncoder(model.child("encoder"), config: config)
    decoder = BartDecoder(model.child("decoder"), config: config)
    finalLogitsBias = w("final_logits_bias", [1, vocabSize])
    // CheckpointNaming keeps `lm_head.weight` apart from `shared` only for an untied checkpoint.
    if w.store.sources[w.prefix + "lm_head.weight"] != nil {
      lmHead = LinearLayer(w.child("lm_head"), in: dim, out: vocabSize, bias: false)
    } else {
      lmHead = LinearLayer(w.child("lm_head"), tiedTo: shared, in: dim, out: vocabSize)
    }
    w.slots(self, \.lmHead)
  }

  /// The head without any adapter standing in for it.
  public var lmHeadBase: LinearLayer { lmHead.frozenBase }

  /// True while the head's weight is the shared embedding itself.
  public var isTied: Bool { lmHeadBase.weight.data == shared.data }

  /// Ties the head to `shared` again (unmerging an lm_head LoRA).
  func tieHead() { lmHead = LinearLayer(weight: shared, bias: nil, in: dim, out: vocabSize) }

  /// ids [rows·T] -> embeddings [rows, T, d] (the encoder's embed_tokens, scale 1 for Florence-2)
  func embedTokens(_ ids: [Int32], rows: Int) -> Tensor {
    let e = Tensor(uninitialized: [rows, ids.count / rows, dim])
    Embedding.forward(out: e.data, table: shared.data, ids: ids, dim: dim)
    if embedScale != 1 { Elementwise.scale(e.data, by: embedScale, count: e.count) }
    return e
  }

  /// hidden [..., d] -> logits [..., V] = lm_head(hidden) + final_logits_bias (SPEC §3.13). With a LoRA on
  /// lm_head, lm_head(h) = h·Wᵀ + s·(drop(h)·Aᵀ)·Bᵀ (LoRALinear: B·A [V, d] is never formed).
  public func logits(_ hidden: Tensor) -> Tensor { lmHead.forward(hidden, addingBias: finalLogitsBias) }

  /// The training forward of `logits`, with what the head's backward reads.
  func logitsTrain(_ hidden: Tensor, ctx: TrainingContext) -> (Tensor, LayerSaved) {
    lmHead.forwardTrain(hidden, ctx: ctx, addingBias: finalLogitsBias)
  }

  /// dLogits [..., V], the logits' hidden input [..., d] -> d hidden [..., d]. The head's weight is frozen (an
  /// adapter in its slot accumulates its own gradients); final_logits_bias is a frozen buffer.
  func logitsBackward(_ dLogits: Tensor, hidden: Tensor, saved: LayerSaved) -> Tensor {
    lmHead.backward(dout: dLogits, input: hidden, saved: saved)
  }
}
