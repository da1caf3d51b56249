// Florence-2's image side after the tower: remote code Florence2ForConditionalGeneration._encode_image;
// transformers models/florence2 Florence2MultiModalProjector, Florence2VisionLearnedAbsolutePositionEmbedding2D,
// Florence2VisionPositionalEmbeddingCosine1D. Keys (original naming, at the top level): image_projection,
// image_proj_norm.*, image_pos_embed.{row,column}_embeddings.weight, visual_temporal_embed.pos_idx_to_embed.
// The projection matrix, position tables and norm are frozen: in training only the tokens' gradient flows.
import FlrCore

/// `image_pos_embed`: learned 2-D table; cell (r, c) gets [column_embeddings[c] ‖ row_embeddings[r]].
final class LearnedAbsolutePositionEmbedding2D {
  let rowEmbeddings: Tensor  // [maxPos, D/2]
  let columnEmbeddings: Tensor  // [maxPos, D - D/2]
  let dim: Int, maxPositions: Int

  init(_ w: Weights, dim: Int, maxPositions: Int) {
    w.module("LearnedAbsolutePositionEmbedding2D")
    self.dim = dim
    self.maxPositions = maxPositions
    w.child("row_embeddings").module("Embedding")
    rowEmbeddings = w.child("row_embeddings")("weight", [maxPositions, dim / 2])
    w.child("column_embeddings").module("Embedding")
    columnEmbeddings = w.child("column_embeddings")("weight", [maxPositions, dim - dim / 2])
  }

  /// x [B, h, w, D] += pos, in place
  func add(to x: Tensor) {
    let (b, h, w) = (x.shape[0], x.shape[1], x.shape[2])
    let half = dim / 2, colWidth = dim - half
    for bi in 0..<b {
      for r in 0..<h {
        for c in 0..<w {
          let t = x.data + ((bi * h + r) * w + c) * dim
          Elementwise.addInPlace(t, columnEmbeddings.data + c * colWidth, count: colWidth)
          Elementwise.addInPlace(t + colWidth, rowEmbeddings.data + r * half, count: half)
        }
      }
    }
  }
}

/// pixel tokens -> the 577 image features BART reads. SPEC §3.8.
public final class ImageProjector {
  let imageProjection: Tensor  // [D, P], used as x·W (native stores it transposed; load transposes it back)
  let imageProjNorm: LayerNormLayer
  let imagePosEmbed: LearnedAbsolutePositionEmbedding2D
  let visualTemporalEmbed: Tensor  // [maxTemporal, D], fixed cosine table; one frame reads row 0
  let visionDim: Int, projectionDim: Int

  init(_ w: Weights, config: FlorenceConfig) {
    let d = config.vision.dimEmbed.last ?? 0
    let p = config.projectionDim
    visionDim = d
    projectionDim = p
    imageProjection = w("image_projection", [d, p])
    imageProjNorm = LayerNormLayer(w.child("image_proj_norm"), dim: p)
    imagePosEmbed = LearnedAbsolutePositionEmbedding2D(
      w.child("image_pos_embed"), dim: d, maxPositions: config.vision.maxPosEmbeddings)
    w.child("visual_temporal_embed").module("PositionalEmbeddingCosine1D")
    visualTemporalEmbed = w.child("visual_temporal_embed")(
      "pos_idx_to_embed", [config.vision.maxTemporalEmbeddings, d])
  }

  /// tokens [B, h, w, D] from the tower -> image features [B, 1 + h·w, P]: token 0 is the mean of the grid
  /// (spatial_avg_pool), then the grid row-major (temporal_avg_pool over one frame).
  public func forward(_ tokens: Tensor) throws -> Tensor {
    imageProjNorm.forward(try projected(tokens))
  }

  /// tokens [B, h, w, D] -> (image features [B, 1 + h·w, P], the final norm's saved statistics)
  func forwardTrain(_ tokens: Tensor) throws -> (Tensor, LayerNormSaved) {
    imageProjNorm.forwardTrain(try projected(tokens))
  }

  /// d image features [B, 1 + n, P] -> d tokens [B, h, w, D]: token 0 (the mean) spreads 1/n to every grid
  /// token; the additive position/temporal embeddings pass the gradient through unchanged.
  func backward(_ dFeatures: Tensor, _ norm: LayerNormSaved, gridSide: Int) -> Tensor {
    let b = dFeatures.shape[0], n = dFeatures.shape[1] - 1, d = visionDim, p = projectionDim
    let dProjected = imageProjNorm.backward(dFeatures, norm)
    let dPooled = Tensor(uninitialized: [b, 1 + n, d])  // written by the product (beta 0)
    // dPooled [B·(1+n), D] = dProjected [B·(1+n), P] · W [D, P]ᵀ
    Gemm.matmul(dProjected.data, imageProjection.data, dPooled.data, m: b * (1 + n), n: d, k: p, transB: true)
    let dTokens = Tensor(uninitialized: [b, gridSide, gridSide, d])  // every token copied, then the mean's share added
    for bi in 0..<b {
      let src = dPooled.data + bi * (1 + n) * d
      (dTokens.data + bi * n * d).update(from: src + d, count: n * d)
      MeanPool.backward(dinp: dTokens.data + bi * n * d, dout: src, batch: 1, tokens: n, channels: d)
    }
    return dTokens
  }

  /// tokens [B, h, w, D] -> [B, 1 + h·w, P] before the final norm (shared by both forwards).
  private func projected(_ tokens: Tensor) throws -> Tensor {
    let (b, h, w, d) = (tokens.shape[0], tokens.shape[1], tokens.shape[2], tokens.shape[3])
    guard h == w, h <= imagePosEmbed.maxPositions else {
      throw ModelError(
        file: "image",
        "the vision grid is \(h)x\(w); Florence-2 needs a square grid of at most "
          + "\(imagePosEmbed.maxPositions) per side")
    }
    let n = h * w
    let x = tokens.copy()
    imagePosEmbed.add(to: x)
    for t in 0..<(b * n) { Elementwise.addInPlace(x.data + t * d, visualTemporalEmbed.data, count: d) }
    let pooled = Tensor(uninitialized: [b, 1 + n, d])
    for bi in 0..<b {
      let dst = pooled.data + bi * (1 + n) * d
      MeanPool.forward(out: dst, inp: x.data + bi * n * d, batch: 1, tokens: n, channels: d)
      (dst + d).update(from: x.data + bi * n * d, count: n * d)
    }
    let projected = Tensor(uninitialized: [b, 1 + n, projectionDim])
    // [1+n, D] · [D, P] per image: sgemm's sums depend on where a row falls in its blocks, so one image's
    // tokens get the same bits in any batch (reduced precisions round them again downstream).
    for bi in 0..<b {
      Gemm.matmul(
        pooled.data + bi * (1 + n) * d, imageProjection.data, projected.data + bi * (1 + n) * projectionDim,
        m: 1 + n, n: projectionDim, k: d)
    }
    return projected
  }
}
