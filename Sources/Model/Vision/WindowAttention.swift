// transformers models/florence2/modeling_florence2.py: Florence2VisionWindowAttention (remote code:
// WindowAttention, under `window_attn.fn`).
import FlrCore

/// Multi-head self-attention inside non-overlapping ws×ws windows; no mask, no relative bias, no shift.
/// SPEC §3.4: pad right/bottom with zeros to multiples of ws (padded tokens are real keys: k = b_k, v = b_v),
/// windows ordered (batch, window row, window column), tokens row-major inside a window.
final class WindowAttention {
  var qkv: LinearLayer  // C -> 3C, rows [q; k; v], head-major inside each
  var proj: LinearLayer
  let dim: Int, heads: Int, window: Int

  init(_ w: Weights, dim: Int, heads: Int, window: Int) {
    w.module("WindowAttention")
    self.dim = dim
    self.heads = heads
    self.window = window
    qkv = LinearLayer(w.child("qkv"), in: dim, out: 3 * dim)
    proj = LinearLayer(w.child("proj"), in: dim, out: dim)
    w.child("softmax").module("Softmax")
    w.slots(self, \.qkv, \.proj)
  }

  /// x [B, H, W, C] (already normalised) -> [B, H, W, C]
  func forward(_ x: Tensor) -> Tensor {
    let plan = WindowPlan(batch: x.shape[0], height: x.shape[1], width: x.shape[2], window: window, channels: dim)
    let attended = attend(qkv.forward(partition(x, plan)), windows: plan.windows)
    return merge(proj.forward(attended), plan, shape: x.shape)
  }

  /// The qkv input (the normalised image cut into windows) is not kept: backward re-partitions the recomputed
  /// LayerNorm output it is given.
  struct Saved {
    let packed: Tensor  // [windows, T, 3C]
    let attended: Tensor  // [windows, T, C]: proj input
    let imageShape: [Int]  // [B, H, W, C]
    let qkv: LayerSaved, proj: LayerSaved
  }

  /// The same function as forward, with every activation backward reads kept.
  func forwardTrain(_ x: Tensor, ctx: TrainingContext) -> (Tensor, Saved) {
    let plan = WindowPlan(batch: x.shape[0], height: x.shape[1], width: x.shape[2], window: window, channels: dim)
    let (packed, qkvSaved) = qkv.forwardTrain(partition(x, plan), ctx: ctx)
    let attended = attend(packed, windows: plan.windows)
    let (projected, projSaved) = proj.forwardTrain(attended, ctx: ctx)
    let saved = Saved(packed: packed, attended: attended, imageShape: x.shape, qkv: qkvSaved, proj: projSaved)
    return (merge(projected, plan, shape: x.shape), saved)
  }

  /// packed q‖k‖v [windows, T, 3C] -> attended [windows, T, C]. The probabilities [windows, H, T, T] (85 MB per
  /// image at stage 0 of base) are not kept, in training either: each head's live in a per-worker scratch, and
  /// backward recomputes them.
  private func attend(_ packed: Tensor, windows: Int) -> Tensor {
    let c = dim, tokens = window * window, hd = c / heads
    let attended = Tensor(uninitialized: [windows, tokens, c])
    Attention.forward(
      out: attended.data, outStride: c, probs: nil, q: packed.data, qStride: 3 * c, k: packed.data + c,
      kStride: 3 * c, v: packed.data + 2 * c, vStride: 3 * c, batch: windows, heads: heads, queryLength: tokens,
      keyLength: tokens, headDim: hd, scale: 1 / Float(hd).squareRoot())
    return attended
  }

  /// windows [windows, T, C] -> the image [B, H, W, C]: every image token lies in exactly one window, the
  /// padding is cropped.
  private func merge(_ windowed: Tensor, _ plan: WindowPlan, shape: [Int]) -> Tensor {
    let y = Tensor(uninitialized: shape), c = plan.channels
    plan.forEachRun { src, dst, n in (y.data + src).update(from: windowed.data + dst, count: n * c) }
    return y
  }

  /// x [B, H, W, C] -> [windows, T, C], zeros where a window reaches past the image.
  private func partition(_ x: Tensor, _ plan: WindowPlan) -> Tensor {
    let c = plan.channels
    let partitioned = Tensor(zeros: [plan.windows, window * window, c])
    plan.forEachRun { src, dst, n in (partitioned.data + dst).update(from: x.data + src, count: n * c) }
    return partitioned
  }

  /// dy [B, H, W, C], the forward's input x [B, H, W, C] (made only if qkv's backward reads it) -> dx
  /// [B, H, W, C] (padded tokens get gradient but are not inputs: dropped).
  func backward(_ dy: Tensor, _ s: Saved, input: () -> Tensor) -> Tensor {
    let (b, h, wd, c) = (s.imageShape[0], s.imageShape[1], s.imageShape[2], dim)
    let plan = WindowPlan(batch: b, height: h, width: wd, window: window, channels: c)
    let tokens = window * window, hd = c / heads
    // Zeros only where windows reach past the image (no token copies a gradient there).
    let padded = plan.rowsOfWindows * window != h || plan.columnsOfWindows * window != wd
    let dProjected = padded ? Tensor(zeros: s.attended.shape) : Tensor(uninitialized: s.attended.shape)
    plan.forEachRun { src, dst, n in (dProjected.data + dst).update(from: dy.data + src, count: n * c) }
    let dAttended = proj.backward(dout: dProjected, input: s.attended, saved: s.proj)
    let dPacked = Tensor(uninitialized: s.packed.shape)
    Attention.backward(
      dq: dPacked.data, dk: dPacked.data + c, dv: dPacked.data + 2 * c, dout: dAttended.data, outStride: c,
      probs: nil, q: s.packed.data, qStride: 3 * c, k: s.packed.data + c, kStride: 3 * c,
      v: s.packed.data + 2 * c, vStride: 3 * c, batch: plan.windows, heads: heads, queryLength: tokens,
      keyLength: tokens, headDim: hd, scale: 1 / Float(hd).squareRoot(), accumulate: false)
    let dPartitioned = qkv.backward(
      dout: dPacked, input: qkv.backwardReadsInput ? partition(input(), plan) : dAttended, saved: s.qkv)  // same shape
    return merge(dPartitioned, plan, shape: s.imageShape)
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
