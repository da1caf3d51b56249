// Remote code Florence2ForConditionalGeneration._encode_image after the tower (SPEC §3.8), training forward
// and backward. The projection matrix, position tables and norm are frozen: only the tokens' gradient flows.
import FlrCore

extension ImageProjector {
  /// tokens [B, h, w, D] -> (image features [B, 1 + h·w, P], the final norm's saved statistics)
  func forwardTrain(_ tokens: Tensor) throws -> (Tensor, LayerNormSaved) {
    imageProjNorm.forwardTrain(try projected(tokens))
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
