// transformers models/florence2/modeling_florence2.py: Florence2VisionChannelAttention (remote code:
// ChannelAttention, under `channel_attn.fn`).
import FlrCore

/// Attention across channels inside groups of Cg = C/G channels: per (image, group) a [Cg, Cg] matrix
/// A = softmax_rows(N^(-1/2) · qᵀk) over all N tokens, out = v·Aᵀ. Note the scale uses the TOKEN count N
/// (SPEC §3.5, pitfall 1). Output channel = g·Cg + c.
final class ChannelAttention {
  var qkv: LinearLayer  // C -> 3C, output channel = s·C + g·Cg + c
  var proj: LinearLayer
  let dim: Int, groups: Int

  init(_ w: Weights, dim: Int, groups: Int) {
    self.dim = dim
    self.groups = groups
    qkv = LinearLayer(w.child("qkv"), in: dim, out: 3 * dim)
    proj = LinearLayer(w.child("proj"), in: dim, out: dim)
  }

  /// x [B, N, C] (any leading shape with N tokens per image, already normalised) -> same shape
  func forward(_ x: Tensor, batch: Int) -> Tensor {
    let c = dim, g = groups, cg = dim / groups
    let n = x.count / (batch * c)
    let packed = qkv.forward(x)  // [B, N, 3C]
    let attended = Tensor(uninitialized: x.shape)  // [B, N, C]
    let scale = 1 / Float(n).squareRoot()
    Threads.parallelFor(batch * g) { bg in
      let bi = bg / g, gi = bg % g
      let q = packed.data + bi * n * 3 * c + gi * cg
      let k = q + c, v = q + 2 * c
      Scratch.withFloats(cg * cg) { a in
        // a [Cg, Cg] = scale · q [N, Cg]ᵀ · k [N, Cg]
        Gemm.matmul(q, k, a, m: cg, n: cg, k: n, transA: true, alpha: scale, lda: 3 * c, ldb: 3 * c, ldc: cg)
        Softmax.forward(out: a, inp: a, rows: cg, dim: cg)
        // out_g [N, Cg] = v [N, Cg] · a [Cg, Cg]ᵀ
        Gemm.matmul(
          v, a, attended.data + bi * n * c + gi * cg, m: n, n: cg, k: cg, transB: true, lda: 3 * c, ldb: cg, ldc: c)
      }
    }
    return proj.forward(attended)
  }
}
