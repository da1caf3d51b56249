// bf16 and int8 products at decoding's row counts (1 row greedy, 3 beams, 4 images x 3 beams = 12) on BART base's
// decode shapes, per kernel path this CPU runs (avx2 and up; FLR_KERNELS lowers the top one). Each figure runs
// one product on each of enough copies of the weight to pass 128 MiB, so the weights come from memory as in a
// decoding step (one copy would sit in the caches), in one parallel region whose workers each compute their share
// of every weight's columns, as a decoding step's stages do. Its limit is its weight bytes at the stream read bandwidth or
// its FLOPs at that path's own bf16 / int8 rate (1024³, measured here per path), whichever is longer.
// FLR_BENCH_PRECISIONS picks the precisions (default bf16,int8).
import FlrCore
import Foundation

let decodeProductsSuite = BenchSuite(
  name: "decode-products", summary: "bf16 / int8 products at 1, 3, 12 rows on BART base shapes, per kernel path"
) {
  let top = KernelPath.active
  defer {
    KernelPath.active = top
    Limits.measured = nil
  }
  let base = Limits.current
  let paths = KernelPath.runnable.filter { $0 >= .avx2 && $0 <= top }
  var pathLimits: [KernelPath: Limits] = [:]
  for path in paths.isEmpty ? [top] : paths {
    KernelPath.active = path
    pathLimits[path] = productLimits(base)
    let l = pathLimits[path]!
    print(
      "  \(path): bf16 \(l.bf16GFlops.map { Bench.fixed($0, 1) } ?? "at the sgemm rate") GFLOP/s, int8 "
        + "\(Bench.fixed(l.int8GFlops, 1)) GFLOP/s (1024³); stream read \(Bench.fixed(l.gbps, 1)) GB/s")
  }
  let shapes = [
    ("768x768 (attention)", 768, 768, true), ("3072x768 (fc1)", 3072, 768, true),
    ("768x3072 (fc2)", 768, 3072, true), ("51289x768 (lm_head)", 51289, 768, false),
  ]
  let names = ProcessInfo.processInfo.environment["FLR_BENCH_PRECISIONS"] ?? "bf16,int8"
  for precision in names.split(separator: ",").map(String.init) where precision == "bf16" || precision == "int8" {
    for (label, n, k, hasBias) in shapes {
      let w = Bench.random([n, k], seed: 2), bias = Bench.random([n], seed: 3)
      func make() -> any RowDecodedWeight {
        precision == "int8"
          ? Int8Weight(w.data, outFeatures: n, inFeatures: k) : BF16Weight(w.data, outFeatures: n, inFeatures: k)
      }
      let first = make()
      let copies = max(1, ((128 << 20) + first.residentBytes - 1) / first.residentBytes)
      let weights = [first] + (1..<copies).map { _ in make() }
      for path in paths.isEmpty ? [top] : paths {
        KernelPath.active = path
        Limits.measured = pathLimits[path]
        var best: [Int: Double] = [:]
        for rows in [1, 3, 12] {
          let x = Bench.random([rows, k], seed: 4), out = Tensor(zeros: [rows, n])
          let flops = 2 * rows * n * k * copies, bytes = copies * (first.residentBytes + 4 * rows * (n + k))
          Bench.measure(
            "\(precision) \(label)", shape: "\(rows) row(s) \(path) x\(copies)", flops: Double(flops)
          ) {
            // One parallel region, each worker its share of every weight's columns, as a decoding step runs.
            let scope = Profile.begin(first.productKind, flops: flops, bytes: bytes)
            let workers = Threads.count
            Threads.parallelChunks(workers) { blocks in
              for block in blocks {
                for weight in weights {
                  forwardPanels(
                    weight, block: block, of: workers, out: out.data, inp: x.data, bias: hasBias ? bias.data : nil,
                    rows: rows)
                }
              }
            }
            Profile.end(scope)
          }
          best[rows] = Bench.results.last?.best
        }
        if let one = best[1], let three = best[3], let twelve = best[12] {
          print(
            "  \(precision) \(label) \(path): 3 rows \(Bench.fixed(three / one, 2))x the 1-row time, 12 rows "
              + "\(Bench.fixed(twelve / one, 2))x (best of each)")
        }
      }
    }
  }
}

/// Block `block` of `blocks` of weight's product (its share of the columns), on the calling thread.
private func forwardPanels(
  _ weight: any RowDecodedWeight, block: Int, of blocks: Int, out: UnsafeMutablePointer<Float>,
  inp: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int
) {
  if let w = weight as? Int8Weight {
    w.linearForwardPanels(block: block, of: blocks, out: out, inp: inp, bias: bias, rows: rows)
  } else if let w = weight as? BF16Weight {
    w.linearForwardPanels(block: block, of: blocks, out: out, inp: inp, bias: bias, rows: rows)
  }
}

/// `base` with the bf16 and int8 rates of the active path's kernels (1024³, best of at least 5 runs).
private func productLimits(_ base: Limits) -> Limits {
  let n = 1024
  let a = Bench.random([n, n]), b = Bench.random([n, n], seed: 2), c = Tensor(zeros: [n, n])
  let flops = 2 * Double(n * n * n)
  func best(_ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    let start = Bench.now()
    var runs = 0
    while runs < 5 || Bench.now() - start < 0.25 {
      let t0 = Bench.now()
      body()
      best = min(best, Bench.now() - t0)
      runs += 1
    }
    return best
  }
  let bf16Weight = BF16Weight(b.data, outFeatures: n, inFeatures: n)
  let bf16 = best { bf16Weight.linearForward(out: c.data, inp: a.data, bias: nil, rows: n) }
  let int8Weight = Int8Weight(b.data, outFeatures: n, inFeatures: n)
  let int8 = best { int8Weight.linearForward(out: c.data, inp: a.data, bias: nil, rows: n) }
  return Limits(
    gflops: base.gflops, bf16GFlops: KernelPath.hasNativeBF16 ? flops / bf16 * 1e-9 : nil,
    int8GFlops: flops / int8 * 1e-9, gbps: base.gbps)
}
