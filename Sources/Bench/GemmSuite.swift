// sgemm throughput on the shapes Florence-2 spends its time in, who should own the threads (our split
// of C over workers, or OpenBLAS's threads), and the small-M question for decoding (one thin sgemm or
// one sgemv per row).
import FlrCore

let gemmSuite = BenchSuite(name: "gemm", summary: "sgemm GFLOP/s on Florence-2 shapes; threading; thin sgemm vs sgemv")
{
  /// out [m, n] = x [m, k] · w [n, k]ᵀ, a Linear layer without bias.
  func linear(_ name: String, m: Int, n: Int, k: Int) {
    let x = Bench.random([m, k]), w = Bench.random([n, k], seed: 2), out = Tensor(zeros: [m, n])
    Bench.measure(name, shape: "m=\(m) n=\(n) k=\(k)", flops: 2.0 * Double(m * n * k)) {
      Gemm.matmul(x.data, w.data, out.data, m: m, n: n, k: k, transB: true)
    }
  }
  let saved = Threads.gemmThreading
  defer { Threads.gemmThreading = saved }
  let modes: [(Threads.GemmThreading, String)] =
    Threads.count > 1 ? [(.split, ""), (.openBLAS, " [openblas thr]")] : [(.split, "")]
  for (mode, label) in modes {
    Threads.gemmThreading = mode
    linear("DaViT stage-1 qkv" + label, m: 36864, n: 384, k: 128)
    linear("DaViT stage-1 fc1" + label, m: 36864, n: 512, k: 128)
    linear("BART fc1" + label, m: 577, n: 3072, k: 768)
    linear("BART fc2" + label, m: 577, n: 768, k: 3072)
    linear("square" + label, m: 1024, n: 1024, k: 1024)
    linear("decode lm_head (sgemv)" + label, m: 1, n: 51289, k: 768)
    linear("decode 768x768 (sgemv)" + label, m: 1, n: 768, k: 768)
    // What a layer does: a GEMM, then our own kernels. OpenBLAS's idle threads spin after each call.
    let t = 577, d = 768
    let x = Bench.random([t, d]), w = Bench.random([4 * d, d]), h = Tensor(zeros: [t, 4 * d]),
      y = Tensor(zeros: [t, d])
    let ln = Bench.random([d]), lb = Bench.random([d])
    Bench.measure("fc1 + gelu + layernorm" + label, shape: "BART layer tail", flops: 2.0 * Double(t * 4 * d * d)) {
      Gemm.matmul(x.data, w.data, h.data, m: t, n: 4 * d, k: d, transB: true)
      Gelu.forward(out: h.data, inp: h.data, count: t * 4 * d)
      LayerNorm.forward(
        out: y.data, mean: nil, rstd: nil, inp: x.data, weight: ln.data, bias: lb.data, rows: t, dim: d, eps: 1e-5)
    }
  }
  Threads.gemmThreading = saved

  // DaViT's MLP fc1 as the vision tower runs it: bias written into each block of C before its GEMM and GELU
  // applied after, while the block is in cache; against the same work as three passes over the output
  // (bias fill, GEMM, GELU). Stage 1 (the most tokens) and stage 3 (the most FLOPs per token).
  for (m, n, k) in [(36864, 512, 128), (2304, 2048, 512)] {
    let x = Bench.random([m, k]), w = Bench.random([n, k], seed: 2), bias = Bench.random([n], seed: 3)
    let out = Tensor(zeros: [m, n])
    let flops = 2.0 * Double(m * n * k)
    Bench.measure("fc1 + bias + gelu, in blocks", shape: "m=\(m) n=\(n) k=\(k)", flops: flops) {
      Linear.forward(
        out: out.data, inp: x.data, weight: w.data, bias: bias.data, rows: m, inFeatures: k, outFeatures: n,
        activation: .gelu)
    }
    Bench.measure("fc1 + bias + gelu, three passes", shape: "m=\(m) n=\(n) k=\(k)", flops: flops) {
      for r in 0..<m { (out.data + r * n).update(from: bias.data, count: n) }
      Gemm.matmul(x.data, w.data, out.data, m: m, n: n, k: k, transB: true, beta: 1)
      Gelu.forward(out: out.data, inp: out.data, count: m * n)
    }
  }

  // Decoding a few beams: m rows against one weight, as one sgemm or through the few-rows path (sgemv for
  // one row, one pass over the weight for several).
  let savedLimit = Gemm.gemvRowLimit
  defer { Gemm.gemvRowLimit = savedLimit }
  for (n, ms) in [(768, [2, 3, 4, 6, 8, 12]), (51289, [3, 12])] {  // 12: 4 images x 3 beams
    for m in ms {
      Gemm.gemvRowLimit = 0
      linear("x\(n)x768 as one sgemm", m: m, n: n, k: 768)
      Gemm.gemvRowLimit = m
      linear("x\(n)x768 few-rows path", m: m, n: n, k: 768)
    }
  }
}
