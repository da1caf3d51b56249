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
    w.module("ChannelAttention")
    self.dim = dim
    self.groups = groups
    qkv = LinearLayer(w.child("qkv"), in: dim, out: 3 * dim)
    proj = LinearLayer(w.child("proj"), in: dim, out: dim)
    w.slots(self, \.qkv, \.proj)
  }

  /// x [B, H, W, C] (already normalised) -> same shape
  func forward(_ x: Tensor) -> Tensor {
    proj.forward(attend(qkv.forward(x), batch: x.shape[0]).attended)
  }

  /// The qkv input (the normalised tokens) is not kept: backward is given it recomputed.
  struct Saved {
    let packed: Tensor  // [B, N, 3C]
    let attention: Tensor  // [B, G, Cg, Cg] softmax rows
    let attended: Tensor  // [B, N, C]: proj input
    let qkv: LayerSaved, proj: LayerSaved
  }

  /// x [B, H, W, C], N = H·W tokens per image -> same shape (SPEC §3.5)
  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, Saved) {
    let (packed, qkvSaved) = qkv.forwardTrain(x, ctx: ctx)
    let (attended, attention) = attend(packed, batch: x.shape[0])
    let (y, projSaved) = proj.forwardTrain(attended, ctx: ctx)
    return (y, Saved(packed: packed, attention: attention, attended: attended, qkv: qkvSaved, proj: projSaved))
  }

  /// packed q‖k‖v [B, ..., 3C] -> (attended [B, ..., C], the softmax rows [B, G, Cg, Cg]). The matrices are small
  /// (C·Cg floats per image), so inference keeps them too.
  private func attend(_ packed: Tensor, batch: Int) -> (attended: Tensor, attention: Tensor) {
    let c = dim, g = groups, cg = dim / groups
    let n = packed.count / (batch * 3 * c)
    let attended = Tensor(uninitialized: Array(packed.shape.dropLast()) + [c])  // each (image, group) block by its GEMM
    let attention = Tensor(uninitialized: [batch, g, cg, cg])
    let scale = 1 / Float(n).squareRoot()
    Threads.parallelFor(batch * g) { bg in
      let bi = bg / g, gi = bg % g
      let q = packed.data + bi * n * 3 * c + gi * cg
      let k = q + c, v = q + 2 * c
      let a = attention.data + bg * cg * cg
      // a [Cg, Cg] = scale · q [N, Cg]ᵀ · k [N, Cg]
      Gemm.matmul(q, k, a, m: cg, n: cg, k: n, transA: true, alpha: scale, lda: 3 * c, ldb: 3 * c, ldc: cg)
      Softmax.forward(out: a, inp: a, rows: cg, dim: cg)
      // out_g [N, Cg] = v [N, Cg] · a [Cg, Cg]ᵀ
      Gemm.matmul(
        v, a, attended.data + bi * n * c + gi * cg, m: n, n: cg, k: cg, transB: true, lda: 3 * c, ldb: cg, ldc: c)
    }
    return (attended, attention)
  }

  /// dy -> dx. Per (image, group), with A = softmax(S), S = scale·qᵀk, out = v·Aᵀ:
  /// dv = dout·A ; dA = doutᵀ·v ; dS = softmax backward ; dq = scale·k·dSᵀ ; dk = scale·q·dS.
  /// `input`: the forward's input x, made only if qkv's backward reads it.
  func backward(_ dy: Tensor, _ s: Saved, input: () -> Tensor) -> Tensor {
    let c = dim, g = groups, cg = dim / groups, batch = s.attention.shape[0]
    let n = s.attended.count / (batch * c)
    let scale = 1 / Float(n).squareRoot()
    let dAttended = proj.backward(dout: dy, input: s.attended, saved: s.proj)
    let dPacked = Tensor(uninitialized: s.packed.shape)  // every (image, group) block written once below
    Threads.parallelFor(batch * g) { bg in
      let bi = bg / g, gi = bg % g
      let q = s.packed.data + bi * n * 3 * c + gi * cg
      let k = q + c, v = q + 2 * c
      let dq = dPacked.data + bi * n * 3 * c + gi * cg
      let dk = dq + c, dv = dq + 2 * c
      let dout = dAttended.data + bi * n * c + gi * cg
      let a = s.attention.data + bg * cg * cg
      Scratch.withFloats(2 * cg * cg) { buf in
        let dA = buf, dS = buf + cg * cg
        // dv [N, Cg] = dout [N, Cg] · A [Cg, Cg]
        Gemm.matmul(dout, a, dv, m: n, n: cg, k: cg, lda: c, ldb: cg, ldc: 3 * c)
        // dA [Cg, Cg] = dout [N, Cg]ᵀ · v [N, Cg]
        Gemm.matmul(dout, v, dA, m: cg, n: cg, k: n, transA: true, lda: c, ldb: 3 * c, ldc: cg)
        dS.update(repeating: 0, count: cg * cg)
        Softmax.backward(dinp: dS, dout: dA, probs: a, rows: cg, dim: cg)
        // dq [N, Cg] = scale · k [N, Cg] · dS [Cg, Cg]ᵀ ; dk [N, Cg] = scale · q [N, Cg] · dS
        Gemm.matmul(k, dS, dq, m: n, n: cg, k: cg, transB: true, alpha: scale, lda: 3 * c, ldb: cg, ldc: 3 * c)
        Gemm.matmul(q, dS, dk, m: n, n: cg, k: cg, alpha: scale, lda: 3 * c, ldb: cg, ldc: 3 * c)
      }
    }
    return qkv.backward(dout: dPacked, input: qkv.backwardReadsInput ? input() : dAttended, saved: s.qkv)
  }
}
