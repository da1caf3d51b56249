// transformers models/florence2/modeling_florence2.py: Florence2VisionWindowAttention,
// Florence2VisionChannelAttention and Florence2VisionMLP, training forward and backward (frozen base,
// qkv/proj/fc1/fc2 through LinearLayer.backward so adapters see their gradients).
import FlrCore

/// The qkv input (the normalised image cut into windows) is not kept: backward re-partitions the recomputed
/// LayerNorm output it is given.
struct WindowAttentionSaved {
  let packed: Tensor  // [windows, T, 3C]
  let probs: Tensor  // [windows, H, T, T]
  let attended: Tensor  // [windows, T, C]: proj input
  let imageShape: [Int]  // [B, H, W, C]
}

extension WindowAttention {
  /// x [B, H, W, C] (normalised) -> [B, H, W, C]; same function as forward, with every activation kept.
  func forwardTrain(_ x: Tensor) -> (Tensor, WindowAttentionSaved) {
    let (b, h, wd, c) = (x.shape[0], x.shape[1], x.shape[2], dim)
    let plan = WindowPlan(batch: b, height: h, width: wd, window: window, channels: c)
    let windows = plan.windows, tokens = window * window, hd = c / heads
    let packed = qkv.forward(partition(x, plan))
    let attended = Tensor(uninitialized: [windows, tokens, c])
    let probs = Tensor(uninitialized: [windows, heads, tokens, tokens])
    Attention.forward(
      out: attended.data, outStride: c, probs: probs.data, q: packed.data, qStride: 3 * c, k: packed.data + c,
      kStride: 3 * c, v: packed.data + 2 * c, vStride: 3 * c, batch: windows, heads: heads, queryLength: tokens,
      keyLength: tokens, headDim: hd, scale: 1 / Float(hd).squareRoot())
    let projected = proj.forward(attended)
    let y = Tensor(uninitialized: x.shape)  // every image token lies in exactly one window
    plan.forEachRun { src, dst, n in (y.data + src).update(from: projected.data + dst, count: n * c) }
    return (y, WindowAttentionSaved(packed: packed, probs: probs, attended: attended, imageShape: x.shape))
  }

  /// x [B, H, W, C] -> [windows, T, C], zeros where a window reaches past the image.
  func partition(_ x: Tensor, _ plan: WindowPlan) -> Tensor {
    let c = plan.channels
    let partitioned = Tensor(zeros: [plan.windows, window * window, c])
    plan.forEachRun { src, dst, n in (partitioned.data + dst).update(from: x.data + src, count: n * c) }
    return partitioned
  }

  /// dy [B, H, W, C], the forward's input x [B, H, W, C] (made only if an adapted qkv reads it) -> dx
  /// [B, H, W, C] (padded tokens get gradient but are not inputs: dropped).
  func backward(_ dy: Tensor, _ s: WindowAttentionSaved, input: () -> Tensor) -> Tensor {
    let (b, h, wd, c) = (s.imageShape[0], s.imageShape[1], s.imageShape[2], dim)
    let plan = WindowPlan(batch: b, height: h, width: wd, window: window, channels: c)
    let tokens = window * window, hd = c / heads
    let dProjected = Tensor(zeros: s.attended.shape)
    plan.forEachRun { src, dst, n in (dProjected.data + dst).update(from: dy.data + src, count: n * c) }
    let dAttended = proj.backward(dout: dProjected, input: s.attended)
    let dPacked = Tensor(zeros: s.packed.shape)
    Attention.backward(
      dq: dPacked.data, dk: dPacked.data + c, dv: dPacked.data + 2 * c, dout: dAttended.data, outStride: c,
      probs: s.probs.data, q: s.packed.data, qStride: 3 * c, k: s.packed.data + c, kStride: 3 * c,
      v: s.packed.data + 2 * c, vStride: 3 * c, batch: plan.windows, heads: heads, queryLength: tokens,
      keyLength: tokens, headDim: hd, scale: 1 / Float(hd).squareRoot())
    let dPartitioned = qkv.backward(
      dout: dPacked, input: qkv.backwardReadsInput ? partition(input(), plan) : dAttended)  // same shape
    let dx = Tensor(uninitialized: s.imageShape)  // every image token lies in exactly one window
    plan.forEachRun { src, dst, n in (dx.data + src).update(from: dPartitioned.data + dst, count: n * c) }
    return dx
  }
}

/// The copy plan between an image [B, H, W, C] and its ws×ws windows [B·nH·nW, ws², C] (SPEC §3.4: pad
/// right/bottom, windows ordered (batch, window row, window column), tokens row-major).
struct WindowPlan {
  let batch: Int, height: Int, width: Int, window: Int, channels: Int
  var rowsOfWindows: Int { (height + window - 1) / window }
  var columnsOfWindows: Int { (width + window - 1) / window }
  var windows: Int { batch * rowsOfWindows * columnsOfWindows }

  /// body(offset in the image, offset in the windows, tokens) for each in-image run of a window row.
  func forEachRun(_ body: (Int, Int, Int) -> Void) {
    let ws = window, c = channels, nh = rowsOfWindows, nw = columnsOfWindows
    for bi in 0..<batch {
      for wy in 0..<nh {
        for wx in 0..<nw {
          let win = (bi * nh + wy) * nw + wx
          for ty in 0..<ws {
            let y = wy * ws + ty
            if y >= height { break }
            let x0 = wx * ws, n = min(ws, width - x0)
            if n <= 0 { continue }
            body(((bi * height + y) * width + x0) * c, (win * ws * ws + ty * ws) * c, n)
          }
        }
      }
    }
  }
}

/// The qkv input (the normalised tokens) is not kept: backward is given it recomputed.
struct ChannelAttentionSaved {
  let packed: Tensor  // [B, N, 3C]
  let attention: Tensor  // [B, G, Cg, Cg] softmax rows
  let attended: Tensor  // [B, N, C]: proj input
  let batch: Int
}

extension ChannelAttention {
  /// x [B, ..., C] with N tokens per image -> same shape (SPEC §3.5)
  func forwardTrain(_ x: Tensor, batch: Int) -> (Tensor, ChannelAttentionSaved) {
    let c = dim, g = groups, cg = dim / groups
    let n = x.count / (batch * c)
    let packed = qkv.forward(x)
    let attended = Tensor(uninitialized: x.shape)  // each (image, group) block written by its GEMM
    let attention = Tensor(uninitialized: [batch, g, cg, cg])
    let scale = 1 / Float(n).squareRoot()
    Threads.parallelFor(batch * g) { bg in
      let bi = bg / g, gi = bg % g
      let q = packed.data + bi * n * 3 * c + gi * cg
      let k = q + c, v = q + 2 * c
      let a = attention.data + bg * cg * cg
      Gemm.matmul(q, k, a, m: cg, n: cg, k: n, transA: true, alpha: scale, lda: 3 * c, ldb: 3 * c, ldc: cg)
      Softmax.forward(out: a, inp: a, rows: cg, dim: cg)
      Gemm.matmul(
        v, a, attended.data + bi * n * c + gi * cg, m: n, n: cg, k: cg, transB: true, lda: 3 * c, ldb: cg, ldc: c)
    }
    return (
      proj.forward(attended),
      ChannelAttentionSaved(packed: packed, attention: attention, attended: attended, batch: batch)
    )
  }

  /// dy -> dx. Per (image, group), with A = softmax(S), S = scale·qᵀk, out = v·Aᵀ:
  /// dv = dout·A ; dA = doutᵀ·v ; dS = softmax backward ; dq = scale·k·dSᵀ ; dk = scale·q·dS.
  /// `input`: the forward's input x, made only if an adapted qkv reads it.
  func backward(_ dy: Tensor, _ s: ChannelAttentionSaved, input: () -> Tensor) -> Tensor {
    let c = dim, g = groups, cg = dim / groups, batch = s.batch
    let n = s.attended.count / (batch * c)
    let scale = 1 / Float(n).squareRoot()
    let dAttended = proj.backward(dout: dy, input: s.attended)
    let dPacked = Tensor(zeros: s.packed.shape)
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
    return qkv.backward(dout: dPacked, input: qkv.backwardReadsInput ? input() : dAttended)
  }
}

/// fc2(gelu(fc1(x))): only fc1's output is kept; the GELU output (fc2's input) is recomputed in backward and
/// x is given back recomputed (each is read only by an adapted fc's own gradient).
struct MlpSaved {
  let preActivation: Tensor  // [..., 4C]
}

extension Mlp {
  func forwardTrain(_ x: Tensor) -> (Tensor, MlpSaved) {
    let pre = fc1.forward(x)
    let activated = Tensor(uninitialized: pre.shape)
    Gelu.forward(out: activated.data, inp: pre.data, count: pre.count)
    return (fc2.forward(activated), MlpSaved(preActivation: pre))
  }

  /// dy [..., C], the forward's input x (made only if an adapted fc1 reads it) -> dx
  func backward(_ dy: Tensor, _ s: MlpSaved, input: () -> Tensor) -> Tensor {
    let pre = s.preActivation
    var activated = pre  // same shape: stands in where a frozen fc2 does not read its input
    if fc2.backwardReadsInput {
      activated = Tensor(uninitialized: pre.shape)
      Gelu.forward(out: activated.data, inp: pre.data, count: activated.count)
    }
    let dActivated = fc2.backward(dout: dy, input: activated)
    let dPre = Tensor(zeros: pre.shape)
    Gelu.backward(dinp: dPre.data, dout: dActivated.data, inp: pre.data, count: dPre.count)
    return fc1.backward(dout: dPre, input: fc1.backwardReadsInput ? input() : dy)
  }
}

extension LinearLayer {
  /// Whether backward reads the forward's input: a frozen fp32 Linear's input gradient does not (no weight
  /// gradient), so backward need not keep or recompute it; an adapter (LoRA) or other subclass may.
  var backwardReadsInput: Bool { type(of: self) != LinearLayer.self }
}
