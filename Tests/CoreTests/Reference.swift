// Double-precision reference implementations and checking helpers for the FlrCore tests.
// These loops are written straight from the operators' definitions (the PyTorch docs), independent of
// the kernels under test, and evaluated in Double so their own rounding is negligible.
import Foundation
import XCTest

@testable import FlrCore

/// Deterministic random test data.
struct TestData {
  var rng: SeededRNG
  init(seed: UInt64) { rng = SeededRNG(seed: seed) }
  /// Uniform in [-scale, scale).
  mutating func floats(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * scale } }
  mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor {
    Tensor(shape: shape, values: floats(shape.reduce(1, *), scale: scale))
  }
}

extension Tensor {
  var doubles: [Double] { toArray().map(Double.init) }
}

/// Asserts |got - want| ≤ atol + rtol·|want| elementwise, reporting the worst element.
func assertClose(
  _ got: [Float], _ want: [Double], rtol: Double, atol: Double, _ what: String,
  file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertEqual(got.count, want.count, "\(what): count", file: file, line: line)
  var worst = 0.0, at = -1
  for i in 0..<min(got.count, want.count) {
    let excess = abs(Double(got[i]) - want[i]) - (atol + rtol * abs(want[i]))
    if excess > worst || (at < 0 && !excess.isFinite) || got[i].isNaN != want[i].isNaN {
      worst = excess.isNaN ? .infinity : excess
      at = i
    }
  }
  if at >= 0 {
    XCTFail(
      "\(what): element \(at) got \(got[at]) want \(want[at]) (rtol \(rtol), atol \(atol))", file: file, line: line)
  }
}

/// Forward check used throughout: 1e-5 relative, plus an absolute floor of 1e-5 × the output's largest
/// magnitude for entries that are sums of cancelling terms (where float rounding is relative to the
/// terms, not to the small result).
func assertForward(
  _ got: Tensor, _ want: [Double], _ what: String, rtol: Double = 1e-5, file: StaticString = #filePath,
  line: UInt = #line
) {
  let scale = want.map(abs).max() ?? 1
  assertClose(got.toArray(), want, rtol: rtol, atol: 1e-5 * max(scale, 1e-30), what, file: file, line: line)
}

/// Checks backward kernels against central finite differences of a double-precision reference.
/// `reference(inputs)` gives the op's output; the scalar checked is L = Σ output·dout for a random dout.
/// `backward(dout, grads)` runs the kernels under test; grads start at 0.25 so accumulation is checked.
/// Tolerance: float kernels against exact derivatives, 1e-4 of the gradient's largest magnitude (float
/// sums of a few hundred terms are good to ~1e-6; central differences with h = 1e-4 in double to ~1e-8).
func checkGradients(
  _ what: String, inputs: [Tensor], outputCount: Int, seed: UInt64 = 99, tolerance: Double = 1e-4,
  skip: Set<Int> = [], reference: ([[Double]]) -> [Double], backward: (Tensor, [Tensor]) -> Void,
  file: StaticString = #filePath, line: UInt = #line
) {
  var data = TestData(seed: seed)
  let dout = data.tensor([outputCount])
  let g = dout.doubles
  let grads = inputs.map { t -> Tensor in
    let z = Tensor(zeros: t.shape)
    z.fill(0.25)
    return z
  }
  backward(dout, grads)
  var x = inputs.map(\.doubles)
  func loss() -> Double { zip(reference(x), g).reduce(0) { $0 + $1.0 * $1.1 } }
  let h = 1e-4
  for (i, input) in inputs.enumerated() where !skip.contains(i) {
    var fd = [Double](repeating: 0, count: input.count)
    for j in 0..<input.count {
      let saved = x[i][j]
      x[i][j] = saved + h
      let plus = loss()
      x[i][j] = saved - h
      let minus = loss()
      x[i][j] = saved
      fd[j] = (plus - minus) / (2 * h)
    }
    let got = grads[i].toArray().map { $0 - 0.25 }
    let scale = max(fd.map(abs).max() ?? 0, 1e-6)
    assertClose(got, fd, rtol: 0, atol: tolerance * scale, "\(what) d(input \(i))", file: file, line: line)
  }
}

enum Ref {
  /// op(A)[m,k] · op(B)[k,n]
  static func matmul(
    _ a: [Double], _ b: [Double], m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false
  ) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k { s += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]) }
        c[i * n + j] = s
      }
    }
    return c
  }

  /// Channels-last conv: inp [B,H,W,Cin], weight [Cout,Cin,k,k] -> [B,Ho,Wo,Cout]
  static func conv2d(
    _ inp: [Double], _ w: [Double], _ bias: [Double]?, B: Int, H: Int, W: Int, cin: Int, cout: Int,
    k: Int, s: Int, p: Int
  ) -> [Double] {
    let ho = (H + 2 * p - k) / s + 1, wo = (W + 2 * p - k) / s + 1
    var out = [Double](repeating: 0, count: B * ho * wo * cout)
    for b in 0..<B {
      for oy in 0..<ho {
        for ox in 0..<wo {
          for co in 0..<cout {
            var acc = bias?[co] ?? 0
            for ci in 0..<cin {
              for ky in 0..<k {
                for kx in 0..<k {
                  let y = oy * s - p + ky, x = ox * s - p + kx
                  if y < 0 || y >= H || x < 0 || x >= W { continue }
                  acc += inp[((b * H + y) * W + x) * cin + ci] * w[((co * cin + ci) * k + ky) * k + kx]
                }
              }
            }
            out[((b * ho + oy) * wo + ox) * cout + co] = acc
          }
        }
      }
    }
    return out
  }

  static func layerNorm(_ x: [Double], _ w: [Double], _ b: [Double], rows: Int, dim: Int, eps: Double) -> [Double] {
    var out = x
    for r in 0..<rows {
      let row = x[(r * dim)..<((r + 1) * dim)]
      let mean = row.reduce(0, +) / Double(dim)
      let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(dim)
      for i in 0..<dim { out[r * dim + i] = (x[r * dim + i] - mean) / (variance + eps).squareRoot() * w[i] + b[i] }
    }
    return out
  }

  static func gelu(_ x: [Double]) -> [Double] { x.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) } }

  static func softmax(_ x: [Double], rows: Int, dim: Int) -> [Double] {
    var out = x
    for r in 0..<rows {
      let row = x[(r * dim)..<((r + 1) * dim)]
      let m = row.max()!
      if m == -.infinity {
        for i in 0..<dim { out[r * dim + i] = 0 }
        continue
      }
      let s = row.reduce(0) { $0 + exp($1 - m) }
      for i in 0..<dim { out[r * dim + i] = exp(x[r * dim + i] - m) / s }
    }
    return out
  }

  /// Returns (out [B, Tq, H·hd] dense, probs [B, H, Tq, Tk]).
  static func attention(
    q: [Double], qStride: Int, k: [Double], kStride: Int, v: [Double], vStride: Int,
    B: Int, H: Int, Tq: Int, Tk: Int, hd: Int, scale: Double, causal: Bool = false, causalOffset: Int = 0,
    mask: [Double]? = nil, maskBatchStride: Int = 0
  ) -> (out: [Double], probs: [Double]) {
    var out = [Double](repeating: 0, count: B * Tq * H * hd)
    var probs = [Double](repeating: 0, count: B * H * Tq * Tk)
    for b in 0..<B {
      for h in 0..<H {
        for i in 0..<Tq {
          var scores = [Double](repeating: 0, count: Tk)
          for j in 0..<Tk {
            var s = 0.0
            for d in 0..<hd { s += q[(b * Tq + i) * qStride + h * hd + d] * k[(b * Tk + j) * kStride + h * hd + d] }
            s *= scale
            if let mask { s += mask[b * maskBatchStride + i * Tk + j] }
            if causal && j > i + causalOffset { s = -.infinity }
            scores[j] = s
          }
          let p = softmax(scores, rows: 1, dim: Tk)
          for j in 0..<Tk { probs[((b * H + h) * Tq + i) * Tk + j] = p[j] }
          for d in 0..<hd {
            var s = 0.0
            for j in 0..<Tk { s += p[j] * v[(b * Tk + j) * vStride + h * hd + d] }
            out[(b * Tq + i) * H * hd + h * hd + d] = s
          }
        }
      }
    }
    return (out, probs)
  }

  static func crossEntropy(_ logits: [Double], _ targets: [Int32], rows: Int, vocab: Int) -> Double {
    var sum = 0.0, kept = 0
    for r in 0..<rows where targets[r] != -100 {
      let row = logits[(r * vocab)..<((r + 1) * vocab)]
      let m = row.max()!
      let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
      sum += lse - logits[r * vocab + Int(targets[r])]
      kept += 1
    }
    return sum / Double(kept)
  }
}
