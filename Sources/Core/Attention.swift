// Scaled dot-product attention, one (batch, head) pair per work item: two GEMMs and a softmax each,
// run single-threaded inside `parallelFor` workers. A register-tiled Swift kernel for the per-head
// products (reading q, k, v in place, no packing) measured no faster than OpenBLAS here (1024 DaViT
// window heads, 144x144x32: 42 vs 37 ms of CPU for q·kᵀ; BART 600x600x64: 9.4 vs 9.1 ms), so OpenBLAS.
//
// Heads are split as channel = head·headDim + j; q/k/v/out are read and written at a row stride so a
// packed qkv [T, 3C] can be passed as q = p, k = p + C, v = p + 2C with stride 3C.

public enum Attention {
  /// scores = scale · q·kᵀ (+ mask) (+ causal), probs [B, H, Tq, Tk] = softmax(scores),
  /// out [B, Tq, H·hd] (row stride outStride) = probs · v.
  /// q [B, Tq, ·] (stride qStride), k, v [B, Tk, ·] (strides kStride, vStride).
  /// mask: additive [Tq, Tk], at mask + b·maskBatchStride for batch b (0: one mask for all).
  /// causal: key j is masked for query i when j > i + causalOffset (causalOffset = past length with a KV cache).
  public static func forward(
    out: UnsafeMutablePointer<Float>, outStride: Int, probs: UnsafeMutablePointer<Float>,
    q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
    v: UnsafePointer<Float>, vStride: Int, batch: Int, heads: Int, queryLength: Int, keyLength: Int, headDim: Int,
    scale: Float, causal: Bool = false, causalOffset: Int = 0, mask: UnsafePointer<Float>? = nil,
    maskBatchStride: Int = 0
  ) {
    let Tq = queryLength, Tk = keyLength, hd = headDim
    Threads.parallelFor(batch * heads) { bh in
      let b = bh / heads, h = bh % heads
      let qh = q + b * Tq * qStride + h * hd
      let kh = k + b * Tk * kStride + h * hd
      let vh = v + b * Tk * vStride + h * hd
      let p = probs + bh * Tq * Tk
      // p [Tq, Tk] = scale · qh [Tq, hd] · kh [Tk, hd]ᵀ
      Gemm.matmul(qh, kh, p, m: Tq, n: Tk, k: hd, transB: true, alpha: scale, lda: qStride, ldb: kStride, ldc: Tk)
      if let mask {
        Elementwise.addInPlace(p, mask + b * maskBatchStride, count: Tq * Tk)
      }
      for i in 0..<Tq {
        let row = p + i * Tk
        if causal {
          let first = max(0, i + causalOffset + 1)
          if first < Tk { (row + first).update(repeating: -.infinity, count: Tk - first) }
        }
        Softmax.row(row, row, Tk)
      }
      // out_h [Tq, hd] = p [Tq, Tk] · vh [Tk, hd]
      Gemm.matmul(p, vh, out + b * Tq * outStride + h * hd, m: Tq, n: hd, k: Tk, lda: Tk, ldb: vStride, ldc: outStride)
    }
  }

  /// With dP = dout·vᵀ and dS = scale · P ⊙ (dP - rowsum(dP ⊙ P)):
  /// dv += Pᵀ·dout ; dq += dS·k ; dk += dSᵀ·q. Gradients use the same strides as q/k/v/out.
  public static func backward(
    dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, outStride: Int, probs: UnsafePointer<Float>,
    q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
    v: UnsafePointer<Float>, vStride: Int, batch: Int, heads: Int, queryLength: Int, keyLength: Int, headDim: Int,
    scale: Float
  ) {
    let Tq = queryLength, Tk = keyLength, hd = headDim
    Threads.parallelFor(batch * heads) { bh in
      let b = bh / heads, h = bh % heads
      let qh = q + b * Tq * qStride + h * hd
      let kh = k + b * Tk * kStride + h * hd
      let vh = v + b * Tk * vStride + h * hd
      let gh = dout + b * Tq * outStride + h * hd
      let p = probs + bh * Tq * Tk
      if let dv {
        // dv_h [Tk, hd] += p [Tq, Tk]ᵀ · dout_h [Tq, hd]
        Gemm.matmul(
          p, gh, dv + b * Tk * vStride + h * hd, m: Tk, n: hd, k: Tq, transA: true, beta: 1,
          lda: Tk, ldb: outStride, ldc: vStride)
      }
      if dq == nil && dk == nil { return }
      Scratch.withFloats(Tq * Tk) { ds in
        // ds [Tq, Tk] = dout_h · v_hᵀ, then turned into the score gradient in place
        Gemm.matmul(gh, vh, ds, m: Tq, n: Tk, k: hd, transB: true, lda: outStride, ldb: vStride, ldc: Tk)
        for i in 0..<Tq { scoreGradient(ds + i * Tk, p + i * Tk, Tk, scale: scale) }
        if let dq {
          // dq_h [Tq, hd] += ds [Tq, Tk] · k_h [Tk, hd]
          Gemm.matmul(
            ds, kh, dq + b * Tq * qStride + h * hd, m: Tq, n: hd, k: Tk, beta: 1, lda: Tk, ldb: kStride, ldc: qStride)
        }
        if let dk {
          // dk_h [Tk, hd] += ds [Tq, Tk]ᵀ · q_h [Tq, hd]
          Gemm.matmul(
            ds, qh, dk + b * Tk * kStride + h * hd, m: Tk, n: hd, k: Tq, transA: true, beta: 1,
            lda: Tk, ldb: qStride, ldc: kStride)
        }
      }
    }
  }

  /// g ← scale · p ⊙ (g - Σ g·p), in place (softmax backward for one row of scores).
  @inline(__always) static func scoreGradient(
    _ g: UnsafeMutablePointer<Float>, _ p: UnsafePointer<Float>, _ n: Int, scale: Float
  ) {
    var acc = F16x()
    var i = 0
    while i + 16 <= n {
      acc = fma16(load16(g + i), load16(p + i), acc)
      i += 16
    }
    var dot = sumLanes(acc)
    while i < n {
      dot += g[i] * p[i]
      i += 1
    }
    let vdot = F16x(repeating: dot), vs = F16x(repeating: scale)
    i = 0
    while i + 16 <= n {
      store16(load16(p + i) * vs * (load16(g + i) - vdot), g + i)
      i += 16
    }
    while i < n {
      g[i] = scale * p[i] * (g[i] - dot)
      i += 1
    }
  }
}
