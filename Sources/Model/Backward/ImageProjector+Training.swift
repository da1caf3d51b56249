// Remote code Florence2ForConditionalGeneration._encode_image after the tower (SPEC §3.8), training forward
// and backward. The projection matrix, position tables and norm are frozen: only the tokens' gradient flows.
import FlrCore

extension ImageProjector {
  /// tokens [B, h, w, D] -> (image features [B, 1 + h·w, P], the final norm's saved statistics)
  func forwardTrain(_ tokens: Tensor) throws -> (Tensor, LayerNormSaved) {
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
    let pooled = Tensor(zeros: [b, 1 + n, d])
    for bi in 0..<b {
      let dst = pooled.data + bi * (1 + n) * d
      MeanPool.forward(out: dst, inp: x.data + bi * n * d, batch: 1, tokens: n, channels: d)
      (dst + d).update(from: x.data + bi * n * d, count: n * d)
    }
    let projected = Tensor(zeros: [b, 1 + n, projectionDim])
    Gemm.matmul(pooled.data, imageProjection.data, projected.data, m: b * (1 + n), n: projectionDim, k: d)
    return imageProjNorm.forwardTrain(projected)
  }

  /// d image features [B, 1 + n, P] -> d tokens [B, h, w, D]: token 0 (the mean) spreads 1/n to every grid
  /// token; the additive position/temporal embeddings pass the gradient through unchanged.
  func backward(_ dFeatures: Tensor, _ norm: LayerNormSaved, gridSide: Int) -> Tensor {
    let b = dFeatures.shape[0], n = dFeatures.shape[1] - 1, d = visionDim, p = projectionDim
    let dProjected = imageProjNorm.backward(dFeatures, norm)
    let dPooled = Tensor(zeros: [b, 1 + n, d])
    // dPooled [B·(1+n), D] = dProjected [B·(1+n), P] · W [D, P]ᵀ
    Gemm.matmul(dProjected.data, imageProjection.data, dPooled.data, m: b * (1 + n), n: d, k: p, transB: true)
    let dTokens = Tensor(zeros: [b, gridSide, gridSide, d])
    for bi in 0..<b {
      let src = dPooled.data + bi * (1 + n) * d
      (dTokens.data + bi * n * d).update(from: src + d, count: n * d)
      MeanPool.backward(dinp: dTokens.data + bi * n * d, dout: src, batch: 1, tokens: n, channels: d)
    }
    return dTokens
  }
}
