// The machine's limits, measured once per run on the same threads as the figures: the sgemm rate (a
// 1024x1024x1024 product, best of a few) and memory bandwidth (a three-array add far larger than the caches,
// best of a few). Each figure is printed next to the time its FLOPs would take at that sgemm rate or its bytes
// at that bandwidth, whichever is longer (a roofline), so a reader sees the fraction of the limit reached.
import FlrCore

struct Limits {
  /// GFLOP/s of a large square sgemm.
  let gflops: Double
  /// GB/s of a streaming add (12 bytes per element).
  let gbps: Double

  /// Seconds the work cannot beat: its FLOPs at the sgemm rate or its bytes at the bandwidth, whichever is more.
  func seconds(flops: Double, bytes: Double) -> Double { max(flops / (gflops * 1e9), bytes / (gbps * 1e9)) }

  nonisolated(unsafe) static var measured: Limits?

  /// The limits, measured on first use (about a second).
  static var current: Limits {
    if let measured { return measured }
    let n = 1024
    let a = Bench.random([n, n]), b = Bench.random([n, n], seed: 2), c = Tensor(zeros: [n, n])
    let gemm = best(of: 5) { Gemm.matmul(a.data, b.data, c.data, m: n, n: n, k: n, transB: true) }
    let count = 1 << 24  // 64 MB per array
    let x = Tensor(zeros: [count]), y = Tensor(zeros: [count]), z = Tensor(zeros: [count])
    let add = best(of: 5) { Elementwise.add(out: z.data, a: x.data, b: y.data, count: count) }
    let limits = Limits(gflops: 2 * Double(n * n * n) / gemm * 1e-9, gbps: 12 * Double(count) / add * 1e-9)
    print("cpu: \(cpuName), flr kernels \(KernelPath.active), OpenBLAS \(Gemm.blasCoreName) kernels")
    print(
      "limits (this run, \(Threads.count) thread(s)): sgemm \(Bench.fixed(limits.gflops, 1)) GFLOP/s (1024³), "
        + "memory \(Bench.fixed(limits.gbps, 1)) GB/s (a + b over 64 MB arrays)")
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

  private static func best(of runs: Int, _ body: () -> Void) -> Double {
    body()
    return (0..<runs).map { _ in
      let t0 = Bench.now()
      body()
      return Bench.now() - t0
    }.min()!
  }
}
