// transformers models/bart/modeling_bart.py: BartEncoder, BartLearnedPositionalEmbedding. Key path:
// language_model.model.encoder (its embed_tokens is the tied `shared`, bound once by LanguageModel).
import FlrCore

/// `embed_positions`: learned table of maxPositions + 2 rows; position p reads row p + 2 (BART's offset).
final class BartLearnedPositionalEmbedding {
  let weight: Tensor  // [maxPositions + 2, d]
  let maxPositions: Int, dim: Int
  static let offset = 2

  init(_ w: Weights, maxPositions: Int, dim: Int) {
    w.module("Florence2LearnedPositionalEmbedding")
    self.maxPositions = maxPositions
    self.dim = dim
    weight = w("weight", [maxPositions + Self.offset, dim])
  }

  /// Row of position p ([d]).
  func row(_ p: Int) -> UnsafeMutablePointer<Float> { weight.data + (p + Self.offset) * dim }
}

public final class BartEncoder {
  let embedPositions: BartLearnedPositionalEmbedding
  let layernormEmbedding: LayerNormLayer
  let layers: [BartEncoderLayer]
  let dim: Int

  init(_ w: Weights, config: TextConfig) {
    w.module("Florence2Encoder")
    dim = config.dModel
    embedPositions = BartLearnedPositionalEmbedding(
      w.child("embed_positions"), maxPositions: config.maxPositionEmbeddings, dim: dim)
    w.child("layers").module("ModuleList")
    layers = (0..<config.encoderLayers).map { BartEncoderLayer(w.child("layers").child($0), config: config) }
    layernormEmbedding = LayerNormLayer(w.child("layernorm_embedding"), dim: dim)
  }

  /// inputsEmbeds [B, S, d] (image features ‖ prompt embeddings) -> encoder output [B, S, d].
  /// Positions 0…S-1 run over the whole merged sequence (SPEC §3.10).
  func forward(_ inputsEmbeds: Tensor, batch: Int) throws -> Tensor {
    let s = inputsEmbeds.count / (batch * dim)
    guard s <= embedPositions.maxPositions else {
      throw ModelError(
        file: "encoder input",
        "\(s) tokens (577 image + prompt) exceed max_position_embeddings "
          + "\(embedPositions.maxPositions)")
    }
    var x = layernormEmbedding.forward(positioned(inputsEmbeds))
    for layer in layers { x = layer.forward(x, batch: batch) }
    return x
  }

  /// inputsEmbeds [B, S, d] + embed_positions(0…S-1), a new tensor.
  func positioned(_ inputsEmbeds: Tensor) -> Tensor {
    let (batch, s) = (inputsEmbeds.shape[0], inputsEmbeds.shape[1])
    let h = inputsEmbeds.copy()
    for b in 0..<batch {
      for p in 0..<s { Elementwise.addInPlace(h.data + (b * s + p) * dim, embedPositions.row(p), count: dim) }
    }
    return h
  }
}
