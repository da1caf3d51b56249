// transformers models/florence2/modeling_florence2.py: Florence2VisionWindowAttention,
// Florence2VisionChannelAttention and Florence2VisionMLP, training forward and backward (frozen base,
// qkv/proj/fc1/fc2 through LinearLayer.backward so adapters see their gradients).
import FlrCore

struct WindowAttentionSaved {
  let partitioned: Tensor  // [windows, T, C]: qkv input (zeros where padded)
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
    let partitioned = Tensor(zeros: [windows, tokens, c])
    plan.forEachRun { src, dst, n in (partitioned.data + dst).update(from: x.data + src, count: n * c) }
    let packed = qkv.forward(partitioned)
    let attended = Tensor(zeros: [windows, tokens, c])
    let probs = Tensor(zeros: [windows, heads, tokens, tokens])
    Attention.forward(
      out: attended.data, outStride: c, probs: probs.data, q: packed.data, qStride: 3 * c, k: packed.data + c,
      kStride: 3 * c, v: packed.data + 2 * c, vStride: 3 * c, batch: windows, heads: heads, queryLength: tokens,
      keyLength: tokens, headDim: hd, scale: 1 / Float(hd).squareRoot())
    let projected = proj.forward(attended)
    let y = Tensor(zeros: x.shape)
    plan.forEachRun { src, dst, n in (y.data + src).update(from: projected.data + dst, count: n * c) }
    return (
      y,
      WindowAttentionSaved(
        partitioned: partitioned, packed: packed, probs: probs, attended: attended, imageShape: x.shape)
    )
  }

  /// dy [B, H, W, C] -> dx [B, H, W, C] (padded tokens get gradient but are not inputs: dropped)
  func backward(_ dy: Tensor, _ s: WindowAttentionSaved) -> Tensor {
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
    let dPartitioned = qkv.backward(dout: dPacked, input: s.partitioned)
    let dx = Tensor(zeros: s.imageShape)
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

struct ChannelAttentionSaved {
  let input: Tensor  // [B, N, C]: qkv input
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
    let attended = Tensor(zeros: x.shape)
    let attention = Tensor(zeros: [batch, g, cg, cg])
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
      ChannelAttentionSaved(input: x, packed: packed, attention: attention, attended: attended, batch: batch)
    )
  }

  /// dy -> dx. Per (image, group), with A = softmax(S), S = scale·qᵀk, out = v·Aᵀ:
  /// dv = dout·A ; dA = doutᵀ·v ; dS = softmax backward ; dq = scale·k·dSᵀ ; dk = scale·q·dS.
  func backward(_ dy: Tensor, _ s: ChannelAttentionSaved) -> Tensor {
    let c = dim, g = groups, cg = dim / groups, batch = s.batch
    let n = s.input.count / (batch * c)
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
    return qkv.backward(dout: dPacked, input: s.input)
  }
}

struct MlpSaved {
  let input: Tensor  // [..., C]
  let preActivation: Tensor  // [..., 4C]
  let activated: Tensor  // [..., 4C]: fc2 input
}

extension Mlp {
  func forwardTrain(_ x: Tensor) -> (Tensor, MlpSaved) {
    let pre = fc1.forward(x)
    let activated = Tensor(zeros: pre.shape)
    Gelu.forward(out: activated.data, inp: pre.data, count: pre.count)
    return (fc2.forward(activated), MlpSaved(input: x, preActivation: pre, activated: activated))
  }

  func backward(_ dy: Tensor, _ s: MlpSaved) -> Tensor {
    let dActivated = fc2.backward(dout: dy, input: s.activated)
    let dPre = Tensor(zeros: s.preActivation.shape)
    Gelu.backward(dinp: dPre.data, dout: dActivated.data, inp: s.preActivation.data, count: dPre.count)
    return fc1.backward(dout: dPre, input: s.input)
  }
}
