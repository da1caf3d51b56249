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
    self.dim = dim
    self.heads = heads
    self.window = window
    qkv = LinearLayer(w.child("qkv"), in: dim, out: 3 * dim)
    proj = LinearLayer(w.child("proj"), in: dim, out: dim)
  }

  /// x [B, H, W, C] (already normalised) -> [B, H, W, C]
  func forward(_ x: Tensor) -> Tensor {
    let (b, h, wd, c) = (x.shape[0], x.shape[1], x.shape[2], dim)
    let ws = window
    let hp = (h + ws - 1) / ws * ws, wp = (wd + ws - 1) / ws * ws
    let nh = hp / ws, nw = wp / ws
    let windows = b * nh * nw, tokens = ws * ws
    // [B, H, W, C] -> [B·nH·nW, ws·ws, C], zeros where padded
    let partitioned = Tensor(zeros: [windows, tokens, c])
    forEachWindowRow(b: b, h: h, wd: wd, nh: nh, nw: nw) { src, dst, n in
      (partitioned.data + dst).update(from: x.data + src, count: n * c)
    }
    let packed = qkv.forward(partitioned)  // [windows, T, 3C]
    let attended = Tensor(uninitialized: [windows, tokens, c])
    let hd = c / heads
    // Windows in chunks so the probabilities stay a few MB (stage 0 of base has 256 windows per image).
    let chunk = max(1, (1 << 22) / (heads * tokens * tokens))
    Scratch.withFloats(min(chunk, windows) * heads * tokens * tokens) { probs in
      var w0 = 0
      while w0 < windows {
        let n = min(chunk, windows - w0)
        let p = packed.data + w0 * tokens * 3 * c
        Attention.forward(
          out: attended.data + w0 * tokens * c, outStride: c, probs: probs, q: p, qStride: 3 * c, k: p + c,
          kStride: 3 * c, v: p + 2 * c, vStride: 3 * c, batch: n, heads: heads, queryLength: tokens,
          keyLength: tokens, headDim: hd, scale: 1 / Float(hd).squareRoot())
        w0 += n
      }
    }
    let projected = proj.forward(attended)  // [windows, T, C]
    // back to [B, H, W, C], cropping the padding
    let y = Tensor(uninitialized: [b, h, wd, c])
    forEachWindowRow(b: b, h: h, wd: wd, nh: nh, nw: nw) { src, dst, n in
      (y.data + src).update(from: projected.data + dst, count: n * c)
    }
    return y
  }

  /// Calls body(offset in [B,H,W,C], offset in [windows, T, C], token count) for each in-image run of a
  /// window row: the copy plan between the image layout and the window layout, both directions.
  private func forEachWindowRow(b: Int, h: Int, wd: Int, nh: Int, nw: Int, _ body: (Int, Int, Int) -> Void) {
    let ws = window, c = dim
    for bi in 0..<b {
      for wy in 0..<nh {
        for wx in 0..<nw {
          let win = (bi * nh + wy) * nw + wx
          for ty in 0..<ws {
            let y = wy * ws + ty
            if y >= h { break }
            let x0 = wx * ws
            let n = min(ws, wd - x0)
            if n <= 0 { continue }
            body(((bi * h + y) * wd + x0) * c, (win * ws * ws + ty * ws) * c, n)
          }
        }
      }
    }
  }
}
