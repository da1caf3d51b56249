// Scaled dot-product attention, one (batch, head) pair per work item: two GEMMs and a softmax each,
// run single-threaded inside `parallelFor` workers. A register-tiled Swift kernel for the per-head
// products (reading q, k, v in place, no packing) measured no faster than OpenBLAS here (1024 DaViT
// window heads, 144x144x32: 42 vs 37 ms of CPU for q·kᵀ; BART 600x600x64: 9.4 vs 9.1 ms), so OpenBLAS.
//
// Heads are split as channel = head·headDim + j; q/k/v/out are read and written at a row stride so a
// packed qkv [T, 3C] can be passed as q = p, k = p + C, v = p + 2C with stride 3C.

import CFlrKernels

public enum Attention {
  /// scores = scale · q·kᵀ (+ mask) (+ causal), probs [B, H, Tq, Tk] = softmax(scores),
  /// out [B, Tq, H·hd] (row stride outStride) = probs · v.
  /// q [B, Tq, ·] (stride qStride), k, v [B, Tk, ·] (strides kStride, vStride).
  /// mask: additive [Tq, Tk], at mask + b·maskBatchStride for batch b (0: one mask for all).
  /// causal: key j is masked for query i when j > i + causalOffset (causalOffset = past length with a KV cache).
  /// dropout (training): out = (probs ⊙ M) · v; `probs` keeps the undropped probabilities.
  /// probs nil: each head's probabilities live in a per-worker scratch (in cache) and are not kept; `backward`
  /// then recomputes them, bitwise the same (a training step keeps 0.4 GB less per image on base this way).
  public static func forward(
    out: UnsafeMutablePointer<Float>, outStride: Int, probs: UnsafeMutablePointer<Float>?,
    q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
    v: UnsafePointer<Float>, vStride: Int, batch: Int, heads: Int, queryLength: Int, keyLength: Int, headDim: Int,
    scale: Float, causal: Bool = false, causalOffset: Int = 0, mask: UnsafePointer<Float>? = nil,
    maskBatchStride: Int = 0, dropout: AttentionDropout? = nil
  ) {
    let keptFloats = probs == nil ? 0 : queryLength * keyLength
    let scope = Profile.begin(
      .attention, .forward, flops: 4 * (batch * heads * queryLength * keyLength * headDim),
      bytes: 4 * (batch * heads * (2 * queryLength * headDim + 2 * keyLength * headDim + keptFloats)))
    defer { Profile.end(scope) }
    let Tq = queryLength, Tk = keyLength, hd = headDim
    let scores = Scores(
      q: q, qStride: qStride, k: k, kStride: kStride, heads: heads, queryLength: Tq, keyLength: Tk, headDim: hd,
      scale: scale, causal: causal, causalOffset: causalOffset, mask: mask, maskBatchStride: maskBatchStride)
    // Per worker: the head's probabilities unless kept, then p ⊙ M with dropout.
    let scratch = (probs == nil ? Tq * Tk : 0) + (dropout == nil ? 0 : Tq * Tk)
    Threads.parallelChunks(batch * heads) { range in
      Scratch.withFloats(max(scratch, 1)) { work in
        for bh in range {
          let b = bh / heads, h = bh % heads
          let vh = v + b * Tk * vStride + h * hd
          let p = probs.map { $0 + bh * Tq * Tk } ?? work
          scores.probabilities(p, bh)
          // out_h [Tq, hd] = p [Tq, Tk] · vh [Tk, hd]
          let oh = out + b * Tq * outStride + h * hd
          var pv = UnsafePointer(p)
          if let dropout {
            let dropped = work + (probs == nil ? Tq * Tk : 0)
            dropout.apply(out: dropped, probs: p, block: bh, count: Tq * Tk)
            pv = UnsafePointer(dropped)
          }
          Gemm.matmul(pv, vh, oh, m: Tq, n: hd, k: Tk, lda: Tk, ldb: vStride, ldc: outStride)
        }
      }
    }
  }

  /// One (batch, head)'s softmax(scale · q·kᵀ (+ mask) (+ causal)): the same calls in forward and in backward's
  /// recompute, so the recomputed probabilities are bitwise the forward's.
  struct Scores {
    let q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int
    let heads: Int, queryLength: Int, keyLength: Int, headDim: Int, scale: Float
    let causal: Bool, causalOffset: Int, mask: UnsafePointer<Float>?, maskBatchStride: Int

    /// p [Tq, Tk] for block bh = b·H + h.
    func probabilities(_ p: UnsafeMutablePointer<Float>, _ bh: Int) {
      let Tq = queryLength, Tk = keyLength, hd = headDim
      let b = bh / heads, h = bh % heads
      let qh = q + b * Tq * qStride + h * hd
      let kh = k + b * Tk * kStride + h * hd
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
    }
  }

  /// `forward` without keeping the probabilities (inference): each (batch, head) is cut into blocks of query
  /// rows whose scores [rows, Tk] stay in the core's L2 between q·kᵀ, the softmax and ·v. Unblocked, BART's
  /// encoder wrote and re-read 12 x 590x590 floats (17 MB) per layer through memory.
  public static func forwardInference(
    out: UnsafeMutablePointer<Float>, outStride: Int, q: UnsafePointer<Float>, qStride: Int,
    k: UnsafePointer<Float>, kStride: Int, v: UnsafePointer<Float>, vStride: Int, batch: Int, heads: Int,
    queryLength: Int, keyLength: Int, headDim: Int, scale: Float, causal: Bool = false
  ) {
    let scope = Profile.begin(
      .attention, .forward, flops: 4 * (batch * heads * queryLength * keyLength * headDim),
      bytes: 4 * (batch * heads * (2 * queryLength * headDim + 2 * keyLength * headDim)))
    defer { Profile.end(scope) }
    let Tq = queryLength, Tk = keyLength, hd = headDim
    if Tq == 0 || Tk == 0 { return }
    // About 256 KB of scores per block (a quarter of this CPU's 1 MB L2), at least 16 rows; blocks of one head
    // split evenly. BART base encoder, one thread, CPU time of its 6 attentions (4 runs, loaded machine):
    // unblocked 0.75-0.79 s, 64 KB blocks 0.78-0.79, 128 KB 0.59-0.69, 256 KB 0.57-0.64.
    let wanted = max(16, (64 * 1024) / max(Tk, 1))
    let blocks = max(1, (Tq + wanted - 1) / wanted)
    let rowsPerBlock = (Tq + blocks - 1) / blocks
    Threads.parallelFor(batch * heads * blocks) { item in
      let bh = item / blocks, block = item % blocks
      let b = bh / heads, h = bh % heads
      let i0 = block * rowsPerBlock, rows = min(rowsPerBlock, Tq - i0)
      if rows <= 0 { return }
      let qh = q + (b * Tq + i0) * qStride + h * hd
      let kh = k + b * Tk * kStride + h * hd
      let vh = v + b * Tk * vStride + h * hd
      // Causal: rows i0..<i0+rows see keys 0...i, so only the first i0+rows keys take part.
      let keys = causal ? min(Tk, i0 + rows) : Tk
      Scratch.withFloats(rows * keys) { p in
        Gemm.matmul(
          qh, kh, p, m: rows, n: keys, k: hd, transB: true, alpha: scale, lda: qStride, ldb: kStride, ldc: keys)
        for i in 0..<rows {
          let row = p + i * keys
          if causal {
            let first = i0 + i + 1
            if first < keys { (row + first).update(repeating: -.infinity, count: keys - first) }
          }
          Softmax.row(row, row, keys)
        }
        Gemm.matmul(
          p, vh, out + (b * Tq + i0) * outStride + h * hd, m: rows, n: hd, k: keys, lda: keys, ldb: vStride,
          ldc: outStride)
      }
    }
  }

  /// With dP = dout·vᵀ and dS = scale · P ⊙ (dP - rowsum(dP ⊙ P)):
  /// dv += Pᵀ·dout ; dq += dS·k ; dk += dSᵀ·q. Gradients use the same strides as q/k/v/out.
  /// dropout (the forward's): with D = P ⊙ M (redrawn here, not stored), dv += Dᵀ·dout and the probabilities'
  /// gradient is M ⊙ dP, so dS = scale · P ⊙ (M ⊙ dP - rowsum(M ⊙ dP ⊙ P)) = scale · (D ⊙ dP - P · rowsum(D ⊙ dP)).
  /// probs: the forward's, or nil to recompute them from q, k and the forward's causal/mask arguments (one more
  /// q·kᵀ per head, in a per-worker scratch). `accumulate` false: = instead of += (each head's block of dq, dk
  /// and dv is written once, so the gradients need not be zeroed first).
  public static func backward(
    dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, outStride: Int, probs: UnsafePointer<Float>?,
    q: UnsafePointer<Float>, qStride: Int, k: UnsafePointer<Float>, kStride: Int,
    v: UnsafePointer<Float>, vStride: Int, batch: Int, heads: Int, queryLength: Int, keyLength: Int, headDim: Int,
    scale: Float, causal: Bool = false, causalOffset: Int = 0, mask: UnsafePointer<Float>? = nil,
    maskBatchStride: Int = 0, dropout: AttentionDropout? = nil, accumulate: Bool = true
  ) {
    let beta: Float = accumulate ? 1 : 0
    let recompute = probs == nil, keptFloats = recompute ? 0 : queryLength * keyLength
    let scope = Profile.begin(
      .attention, .backward, flops: (recompute ? 10 : 8) * (batch * heads * queryLength * keyLength * headDim),
      bytes: 4 * (batch * heads * (4 * queryLength * headDim + 4 * keyLength * headDim + keptFloats)))
    defer { Profile.end(scope) }
    let Tq = queryLength, Tk = keyLength, hd = headDim
    let scores = Scores(
      q: q, qStride: qStride, k: k, kStride: kStride, heads: heads, queryLength: Tq, keyLength: Tk, headDim: hd,
      scale: scale, causal: causal, causalOffset: causalOffset, mask: mask, maskBatchStride: maskBatchStride)
    let scoreGradients = dq != nil || dk != nil
    // Per worker: the recomputed probabilities, ds [Tq, Tk] when dq or dk is wanted, then p ⊙ M with dropout.
    let square = Tq * Tk
    let dsOffset = recompute ? square : 0
    let droppedOffset = dsOffset + (scoreGradients ? square : 0)
    let scratch = droppedOffset + (dropout == nil ? 0 : square)
    Threads.parallelChunks(batch * heads) { range in
      Scratch.withFloats(max(scratch, 1)) { work in
        for bh in range {
          let b = bh / heads, h = bh % heads
          let qh = q + b * Tq * qStride + h * hd
          let kh = k + b * Tk * kStride + h * hd
          let vh = v + b * Tk * vStride + h * hd
          let gh = dout + b * Tq * outStride + h * hd
          let p: UnsafePointer<Float>
          if let probs {
            p = probs + bh * square
          } else {
            scores.probabilities(work, bh)
            p = UnsafePointer(work)
          }
          let ds = work + dsOffset
          // pv [Tq, Tk]: what multiplied v in the forward
          var pv = p
          if let dropout {
            let dropped = work + droppedOffset
            dropout.apply(out: dropped, probs: p, block: bh, count: square)
            pv = UnsafePointer(dropped)
          }
          if let dv {
            // dv_h [Tk, hd] += pv [Tq, Tk]ᵀ · dout_h [Tq, hd]
            Gemm.matmul(
              pv, gh, dv + b * Tk * vStride + h * hd, m: Tk, n: hd, k: Tq, transA: true, beta: beta,
              lda: Tk, ldb: outStride, ldc: vStride)
          }
          if !scoreGradients { continue }
          // ds [Tq, Tk] = dout_h · v_hᵀ, then turned into the score gradient in place
          Gemm.matmul(gh, vh, ds, m: Tq, n: Tk, k: hd, transB: true, lda: outStride, ldb: vStride, ldc: Tk)
          if dropout == nil {
            for i in 0..<Tq {
              Softmax.rowBackward(ds + i * Tk, ds + i * Tk, p + i * Tk, Tk, scale: scale, accumulate: false)
            }
          } else {
            for i in 0..<Tq { Softmax.droppedRowBackward(ds + i * Tk, p + i * Tk, pv + i * Tk, Tk, scale: scale) }
          }
          if let dq {
            // dq_h [Tq, hd] += ds [Tq, Tk] · k_h [Tk, hd]
            Gemm.matmul(
              ds, kh, dq + b * Tq * qStride + h * hd, m: Tq, n: hd, k: Tk, beta: beta, lda: Tk, ldb: kStride,
              ldc: qStride)
          }
          if let dk {
            // dk_h [Tk, hd] += ds [Tq, Tk]ᵀ · q_h [Tq, hd]
            Gemm.matmul(
              ds, qh, dk + b * Tk * kStride + h * hd, m: Tk, n: hd, k: Tq, transA: true, beta: beta,
              lda: Tk, ldb: qStride, ldc: kStride)
          }
        }
      }
    }
  }
}

// MARK: one decoding step (a single new query per sequence)

extension Attention {
  /// Cross-attention of one decoding step for one head: `queries` rows that share one image's keys and values
  /// (the beams of that image) read each key and each value once for all of them, from a layout made once per
  /// image (flr_attention_step_shared, on the run-time dispatched kernel path; every path gives the same bits).
  ///   q [queries, ·] at stride qStride, this head's hd channels at q; out likewise (outStride)
  ///   keysT [hd, paddedKeys]: this head's keys transposed, columns keyLength..<paddedKeys zero
  ///   (paddedKeys = keyLength rounded up to 16, see `paddedLength`)
  ///   v [keyLength, ·] at stride vStride, this head's channels at v
  ///   scores: scratch for queries · paddedKeys floats
  /// Scores are (scale·q)·k: the same product as scale·(q·k) up to rounding.
  public static func stepSharedKeys(
    out: UnsafeMutablePointer<Float>, outStride: Int, q: UnsafePointer<Float>, qStride: Int, queries: Int,
    keysT: UnsafePointer<Float>, v: UnsafePointer<Float>, vStride: Int, keyLength: Int, headDim: Int, scale: Float,
    scores: UnsafeMutablePointer<Float>
  ) {
    let scope = Profile.begin(
      .attention, .forward, flops: 4 * (queries * keyLength * headDim), bytes: 4 * (2 * keyLength * headDim))
    defer { Profile.end(scope) }
    flr_attention_step_shared(
      out, outStride, q, qStride, queries, keysT, v, vStride, 0, keyLength, headDim, scale, scores)
  }

  /// Self-attention of one decoding step for one head and one sequence whose cached keys/values sit at
  /// scattered rows (beam search shares a cache between beams): key p is at k + rowOffsets[p], its value at
  /// v + rowOffsets[p] (this head's hd channels). q, out: this head's channels of the new position.
  /// scores: scratch for keyLength floats.
  public static func stepGathered(
    out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    rowOffsets: UnsafePointer<Int>, keyLength: Int, headDim: Int, scale: Float, scores: UnsafeMutablePointer<Float>
  ) {
    let scope = Profile.begin(
      .attention, .forward, flops: 4 * (keyLength * headDim), bytes: 4 * (2 * keyLength * headDim))
    defer { Profile.end(scope) }
    flr_attention_step_gathered(out, q, k, v, rowOffsets, keyLength, headDim, scale, scores)
  }

  /// Keys padded to a multiple of 16 for `stepSharedKeys`' transposed layout.
  public static func paddedLength(_ keyLength: Int) -> Int { (keyLength + 15) / 16 * 16 }
}
