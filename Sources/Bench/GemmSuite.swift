// sgemm throughput on the shapes Florence-2 spends its time in, and the small-M question for decoding
// (one thin sgemm or one sgemv per row).
import FlrCore

let gemmSuite = BenchSuite(name: "gemm", summary: "sgemm GFLOP/s on Florence-2 shapes; thin sgemm vs sgemv") {
  /// out [m, n] = x [m, k] · w [n, k]ᵀ, a Linear layer without bias.
  func linear(_ name: String, m: Int, n: Int, k: Int) {
    let x = Bench.random([m, k]), w = Bench.random([n, k], seed: 2), out = Tensor(zeros: [m, n])
    Bench.measure(name, shape: "m=\(m) n=\(n) k=\(k)", flops: 2.0 * Double(m * n * k)) {
      Gemm.matmul(x.data, w.data, out.data, m: m, n: n, k: k, transB: true)
    }
  }
  linear("DaViT stage-1 qkv", m: 36864, n: 384, k: 128)
  linear("DaViT stage-1 fc1", m: 36864, n: 512, k: 128)
  linear("BART fc1", m: 577, n: 3072, k: 768)
  linear("BART fc2", m: 577, n: 768, k: 3072)
  linear("square", m: 1024, n: 1024, k: 1024)
  linear("decode lm_head (sgemv)", m: 1, n: 51289, k: 768)

  // Decoding a few beams: m rows against one 768x768 weight, as one sgemm or m sgemv calls.
  let saved = Gemm.gemvRowLimit
  defer { Gemm.gemvRowLimit = saved }
  for m in [1, 2, 3, 4, 6, 8] {
    Gemm.gemvRowLimit = 0
    linear("768x768 as one sgemm", m: m, n: 768, k: 768)
    Gemm.gemvRowLimit = m
    linear("768x768 as \(m) sgemv", m: m, n: 768, k: 768)
  }
}
