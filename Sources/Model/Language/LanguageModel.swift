// Remote code: Florence2LanguageForConditionalGeneration (BartForConditionalGeneration with its BartModel
// inlined): `language_model.model.{shared,encoder,decoder}`, `language_model.lm_head` (tied to shared),
// `language_model.final_logits_bias`. transformers 5: Florence2Model.language_model + lm_head.
import FlrCore

public final class LanguageModel {
  /// [V, d]: the token embedding of encoder and decoder and, transposed, the LM head (one tensor, tied).
  public let shared: Tensor
  public let encoder: BartEncoder
  public let decoder: BartDecoder
  public let finalLogitsBias: Tensor  // [1, V]
  public let vocabSize: Int, dim: Int
  let embedScale: Float

  init(_ w: Weights, config: TextConfig) {
    vocabSize = config.vocabSize
    dim = config.dModel
    embedScale = config.scaleEmbedding ? Float(config.dModel).squareRoot() : 1
    let model = w.child("model")
    shared = model("shared.weight", [vocabSize, dim])
    encoder = BartEncoder(model.child("encoder"), config: config)
    decoder = BartDecoder(model.child("decoder"), config: config)
    finalLogitsBias = w("final_logits_bias", [1, vocabSize])
  }

  /// ids [rows·T] -> embeddings [rows, T, d] (the encoder's embed_tokens, scale 1 for Florence-2)
  func embedTokens(_ ids: [Int32], rows: Int) -> Tensor {
    let e = Tensor(uninitialized: [rows, ids.count / rows, dim])
    Embedding.forward(out: e.data, table: shared.data, ids: ids, dim: dim)
    if embedScale != 1 { Elementwise.scale(e.data, by: embedScale, count: e.count) }
    return e
  }

  /// hidden [..., d] -> logits [..., V] = hidden·sharedᵀ + final_logits_bias (SPEC §3.13)
  public func logits(_ hidden: Tensor) -> Tensor {
    let rows = hidden.count / dim
    let out = Tensor(uninitialized: Array(hidden.shape.dropLast()) + [vocabSize])
    Linear.forward(
      out: out.data, inp: hidden.data, weight: shared.data, bias: finalLogitsBias.data, rows: rows,
      inFeatures: dim, outFeatures: vocabSize)
    return out
  }
}
