// transformers models/bart/modeling_bart.py: BartDecoder. Key path: language_model.model.decoder
// (its embed_tokens is the tied `shared`, bound once by LanguageModel).
import FlrCore

public final class BartDecoder {
  let embedPositions: BartLearnedPositionalEmbedding
  let layernormEmbedding: LayerNormLayer
  let layers: [BartDecoderLayer]
  let dim: Int
  let embedScale: Float

  init(_ w: Weights, config: TextConfig) {
    w.module("Florence2Decoder")
    dim = config.dModel
    embedScale = config.scaleEmbedding ? Float(config.dModel).squareRoot() : 1
    embedPositions = BartLearnedPositionalEmbedding(
      w.child("embed_positions"), maxPositions: config.maxPositionEmbeddings, dim: dim)
    w.child("layers").module("ModuleList")
    layers = (0..<config.decoderLayers).map { BartDecoderLayer(w.child("layers").child($0), config: config) }
    layernormEmbedding = LayerNormLayer(w.child("layernorm_embedding"), dim: dim)
  }

  /// LN(shared[id]·scale + pos[first + t]) for ids laid out [rows, T] -> [rows, T, d]
  func embed(_ ids: [Int32], rows: Int, firstPosition: Int, shared: Tensor) -> Tensor {
    let t = ids.count / rows
    let e = Tensor(uninitialized: [rows, t, dim])
    Embedding.forward(out: e.data, table: shared.data, ids: ids, dim: dim)
    if embedScale != 1 { Elementwise.scale(e.data, by: embedScale, count: e.count) }
    for r in 0..<rows {
      for i in 0..<t {
        Elementwise.addInPlace(e.data + (r * t + i) * dim, embedPositions.row(firstPosition + i), count: dim)
      }
    }
    return layernormEmbedding.forward(e)
  }

  /// Rows `rows` of embed(tokens, rows: tokens.count, firstPosition: position) (one token per row) into out
  /// [tokens.count, d], `e` [tokens.count, d] holding the rows before their LayerNorm, on the calling thread: each
  /// row's lookup, scale, position add and LayerNorm are the whole call's, so the same bits (a decoding step's first
  /// stage, a run of rows per worker).
  func embedStep(
    _ tokens: UnsafePointer<Int32>, rows: Range<Int>, position: Int, shared: Tensor, e: UnsafeMutablePointer<Float>,
    out: UnsafeMutablePointer<Float>
  ) {
    let first = rows.lowerBound, d = dim
    Embedding.forward(out: e + first * d, table: shared.data, ids: tokens + first, count: rows.count, dim: d)
    if embedScale != 1 { Elementwise.scale(e + first * d, by: embedScale, count: rows.count * d) }
    for r in rows { Elementwise.addInPlace(e + r * d, embedPositions.row(position), count: d) }
    let norm = layernormEmbedding
    LayerNorm.forward(
      out: out + first * d, mean: nil, rstd: nil, inp: e + first * d, weight: norm.weight.data, bias: norm.bias.data,
      rows: rows.count, dim: d, eps: norm.eps)
  }

  /// Teacher forcing: ids [B, T] (flattened), encoder output [B, S, d] -> hidden [B, T, d]
  func forward(_ ids: [Int32], batch: Int, encoderOutput: Tensor, shared: Tensor) throws -> Tensor {
    let t = ids.count / batch
    guard t <= embedPositions.maxPositions else {
      throw ModelError(
        file: "decoder input", "\(t) tokens exceed max_position_embeddings \(embedPositions.maxPositions)")
    }
    var x = embed(ids, rows: batch, firstPosition: 0, shared: shared)
    for layer in layers {
      let (k, v) = layer.encoderAttn.keysValues(encoderOutput)
      x = layer.forward(x, crossKeys: k, crossValues: v, batch: batch)
    }
    return x
  }

  /// One token per row at position state.length -> hidden [rows, d]; the cache grows by one.
  func step(_ tokens: [Int32], state: inout DecoderState, shared: Tensor) throws -> Tensor {
    guard state.length < embedPositions.maxPositions else {
      throw ModelError(
        file: "decoder", "position \(state.length) is past max_position_embeddings \(embedPositions.maxPositions)")
    }
    var x = embed(tokens, rows: state.rows, firstPosition: state.length, shared: shared).reshaped([state.rows, dim])
    state.beginStep()
    for (l, layer) in layers.enumerated() { x = layer.step(x, layer: l, state: &state) }
    state.length += 1
    return x
  }

  /// Cross-attention keys/values of every layer for encoder output [images, S, d], computed once per image.
  func crossKeysValues(_ encoderOutput: Tensor) -> (keys: [Tensor], values: [Tensor]) {
    var keys: [Tensor] = [], values: [Tensor] = []
    for layer in layers {
      let (k, v) = layer.encoderAttn.keysValues(encoderOutput)
      keys.append(k)
      values.append(v)
    }
    return (keys, values)
  }
}
