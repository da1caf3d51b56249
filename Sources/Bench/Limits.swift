// The machine's limits, measured once per run on the same threads as the figures: the sgemm rate (a
// 1024x1024x1024 product, best of several), flr's bf16 and int8 kernels on the same product (vdpbf16ps and
// vpdpbusd where the CPU has them), and the read bandwidth (a sum over an array far larger than the caches,
// best of several). Each figure is printed next to the time its FLOPs would take at the rate of the kernels that
// run them (fp32 ops at the sgemm rate, bf16 products at the bf16 rate, int8 products at the int8 rate) or its
// bytes at the read bandwidth, whichever is longer (a roofline), so a reader sees the fraction of the limit
// reached.
import FlrCore

struct Limits {
  /// GFLOP/s of a large square sgemm.
  let gflops: Double
  /// GFLOP/s of the bf16 product on the same shape where the CPU has bf16 dot products (else bf16 products are
  /// judged at the sgemm rate: widened to fp32, they cannot beat it).
  let bf16GFlops: Double?
  /// GFLOP/s of the int8 product on the same shape (activation quantization and scales included).
  let int8GFlops: Double
  /// GB/s of a streaming read (`stream read`).
  let gbps: Double

  /// The FLOP rate of `kind`'s kernels.
  func gflops(_ kind: OpKind) -> Double {
    switch kind {
    case .bf16Product: bf16GFlops ?? gflops
    case .int8Product: int8GFlops
    default: gflops
    }
  }

  /// Seconds the work cannot beat: its FLOPs at the sgemm rate or its bytes at the read bandwidth, whichever is
  /// more.
  func seconds(flops: Double, bytes: Double) -> Double { max(flops / (gflops * 1e9), bytes / (gbps * 1e9)) }

  /// Seconds a profiled run cannot beat: each op kind's FLOPs at its kernels' rate, added, or all its bytes at
  /// the read bandwidth, whichever is more.
  func seconds(_ report: ProfileReport) -> Double {
    let compute = report.rows.reduce(0.0) { $0 + $1.figures.flops / (gflops($1.kind) * 1e9) }
    return max(compute, report.bytes / (gbps * 1e9))
  }

  /// `flops` of the kinds `report` counted (a figure that states its own FLOPs): at the rate of the kinds in the
  /// proportions the run had, the sgemm rate if it counted none; `bytes` at the read bandwidth.
  func seconds(flops: Double, bytes: Double, like report: ProfileReport) -> Double {
    let counted = report.flops
    let perFlop =
      counted > 0
      ? report.rows.reduce(0.0) { $0 + $1.figures.flops / (gflops($1.kind) * 1e9) } / counted : 1 / (gflops * 1e9)
    return max(flops * perFlop, bytes / (gbps * 1e9))
  }

  nonisolated(unsafe) static var measured: Limits?

  /// The limits, measured on first use (about a second and a half).
  static var current: Limits {
    if let measured { return measured }
    let n = 1024
    let a = Bench.random([n, n]), b = Bench.random([n, n], seed: 2), c = Tensor(zeros: [n, n])
    let flops = 2 * Double(n * n * n)
    let gemm = best(of: 5) { Gemm.matmul(a.data, b.data, c.data, m: n, n: n, k: n, transB: true) }
    let bf16Weight = BF16Weight(b.data, outFeatures: n, inFeatures: n)
    let bf16 = best(of: 5) { bf16Weight.linearForward(out: c.data, inp: a.data, bias: nil, rows: n) }
    let int8Weight = Int8Weight(b.data, outFeatures: n, inFeatures: n)
    let int8 = best(of: 5) { int8Weight.linearForward(out: c.data, inp: a.data, bias: nil, rows: n) }
    let stream = StreamRead()
    let read = best(of: 5) { _ = stream.run() }
    let limits = Limits(
      gflops: flops / gemm * 1e-9, bf16GFlops: KernelPath.hasNativeBF16 ? flops / bf16 * 1e-9 : nil,
      int8GFlops: flops / int8 * 1e-9, gbps: stream.bytes / read * 1e-9)
    print("cpu: \(cpuName), flr kernels \(KernelPath.active), OpenBLAS \(Gemm.blasCoreName) kernels")
    let bf16Rate =
      limits.bf16GFlops.map { "bf16 \(Bench.fixed($0, 1))" } ?? "bf16 at the sgemm rate (no bf16 dot products)"
    print(
      "limits (this run, \(Threads.count) thread(s)): sgemm \(Bench.fixed(limits.gflops, 1)) GFLOP/s (1024³), "
        + "\(bf16Rate), int8 \(Bench.fixed(limits.int8GFlops, 1)) GFLOP/s (flr's kernels, 1024³), "
        + "memory \(Bench.fixed(limits.gbps, 1)) GB/s (stream read of 256 MiB)")
    measured = limits
    return limits
  }

  /// /proc/cpuinfo's model name and family: figures are only comparable on the same CPU.
  static var cpuName: String {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
    func field(_ name: String) -> String? {
      info.split(separator: "\n").first { $0.hasPrefix(name) }.flatMap { $0.split(separator: ":").last }
        .map { $0.trimmingCharacters(in: .whitespaces) }
    }
    return [field("model name"), field("cpu family").map { "family \($0)" }].compactMap { $0 }.joined(separator: ", ")
  }

  /// The best time of at least `runs` runs and a quarter of a second (a limit measured low would let figures
  /// read above 100% of it; on a shared machine the best of many runs is the one least disturbed).
  private static func best(of runs: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity, count = 0
    let start = Bench.now()
    while count < runs || Bench.now() - start < 0.25 {
      let t0 = Bench.now()
      body()
      best = min(best, Bench.now() - t0)
      count += 1
    }
    return best
  }
}

/// Read bandwidth: a sum over 256 MiB split across the workers (far past every cache), four running sums each.
/// Its own allocation, freed after (not the tensor buffer pool, which would keep it).
final class StreamRead {
  let count = 1 << 26
  let values: UnsafeMutablePointer<Float>
  var bytes: Double { Double(count * 4) }

  init() {
    values = .allocate(capacity: count)
    values.initialize(repeating: 0, count: count)
    for i in stride(from: 0, to: count, by: 1024) { values[i] = 1 }
  }

  deinit { values.deallocate() }

  /// The sum (returned so the loop is not optimized away).
  @discardableResult
  func run() -> Float {
    let workers = Threads.count, count = count, values = UnsafePointer(values)
    var partial = [Float](repeating: 0, count: workers)
    partial.withUnsafeMutableBufferPointer { p in
      let out = p.baseAddress!
      Threads.parallelChunks(workers) { range in
        for w in range {
          var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
          let lo = w * count / workers, hi = (w + 1) * count / workers
          var i = lo
          while i + 4 <= hi {
            s0 += values[i]
            s1 += values[i + 1]
            s2 += values[i + 2]
            s3 += values[i + 3]
            i += 4
          }
          out[w] = s0 + s1 + s2 + s3
        }
      }
    }
    return partial.reduce(0, +)
  }
}
