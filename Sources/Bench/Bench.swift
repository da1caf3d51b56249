// The benchmark harness: suites, timing and the result table. A suite is a name, a one-line summary and
// a function that measures things and records them with `Bench.record`.
//
// To add a suite: write `let mySuite = BenchSuite(name:summary:run:)` in its own file and add it to
// `allSuites` in Suites.swift.
import Dispatch
import FlrCore
import Foundation

struct BenchSuite {
  let name: String
  let summary: String
  let run: () -> Void
}

/// One measured figure: what, its shape, the median time and a rate (GFLOP/s or GB/s) when meaningful.
struct BenchResult: Codable {
  let suite: String
  let name: String
  let shape: String
  let seconds: Double
  let best: Double
  let rate: Double?
  let unit: String?
  let threads: Int
  /// Process CPU time per run (all threads): on a busy machine wall time grows, this mostly does not.
  let cpuSeconds: Double
  /// The time the figure's FLOPs take at this run's rates for the kernels that run them (sgemm, bf16, int8), or
  /// its bytes at this run's read bandwidth, whichever is longer (Limits.swift); nil when its kernels declare
  /// neither.
  var limit: Double? = nil
}

/// PyTorch's time for the same figure (from `scripts/bench --compare`).
struct TorchTime: Codable {
  let median: Double
  let best: Double
}

enum Bench {
  nonisolated(unsafe) static var torch: [String: TorchTime] = [:]
  nonisolated(unsafe) static var currentSuite = ""
  nonisolated(unsafe) static var results: [BenchResult] = []
  nonisolated(unsafe) static var previous: [String: BenchResult] = [:]
  /// Minimum measuring time per figure.
  nonisolated(unsafe) static var minSeconds = 0.4
  /// `--profile`: after each figure, one more run under Core's Profile, printed per op kind (ProfileTable).
  nonisolated(unsafe) static var profiling = false

  /// Median and best wall time of `body` over repeated runs (one warm-up first; at least 3 runs and
  /// `minSeconds` of measuring; the median resists other processes on a shared 2-core machine).
  static func time(_ body: () -> Void, warmUp: Bool = true) -> (median: Double, best: Double, cpu: Double) {
    if warmUp { body() }
    var times: [Double] = []
    let start = now()
    let cpu0 = cpuNow()
    while times.count < 3 || (now() - start < minSeconds && times.count < 1000) {
      let t0 = now()
      body()
      times.append(now() - t0)
    }
    let cpu = (cpuNow() - cpu0) / Double(times.count)
    times.sort()
    return (times[times.count / 2], times[0], cpu)
  }

  static func cpuNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }

  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

  /// Times `body` and records it. `flops` gives GFLOP/s, `bytes` gives GB/s (of the median time).
  /// The warm-up run is profiled for the FLOPs and bytes its kernels declare (those not given here), which set
  /// the figure's limit.
  static func measure(_ name: String, shape: String, flops: Double? = nil, bytes: Double? = nil, _ body: () -> Void) {
    let limits = Limits.current
    let counted = ProfileTable.profiled(body)
    let (median, best, cpu) = time(body, warmUp: false)
    var rate: Double? = nil, unit: String? = nil
    if let flops {
      (rate, unit) = (flops / median * 1e-9, "GFLOP/s")
    } else if let bytes {
      (rate, unit) = (bytes / median * 1e-9, "GB/s")
    }
    let r = BenchResult(
      suite: currentSuite, name: name, shape: shape, seconds: median, best: best, rate: rate, unit: unit,
      threads: Threads.count, cpuSeconds: cpu,
      limit: limitOrNil(
        flops == nil && bytes == nil
          ? limits.seconds(counted)
          : limits.seconds(flops: flops ?? counted.flops, bytes: bytes ?? counted.bytes, like: counted)))
    results.append(r)
    printRow(r)
    if profiling { ProfileTable.print(ProfileTable.profiled(body), title: name) }
  }

  static func limitOrNil(_ seconds: Double) -> Double? { seconds > 0 ? seconds : nil }

  static let header =
    pad("op", 34) + pad("shape", 26) + lpad("median", 11) + lpad("best", 11) + lpad("rate (median)", 17)
    + lpad("cpu/run", 11) + lpad("limit", 11) + lpad("of limit", 9)

  static func key(_ r: BenchResult) -> String { "\(r.suite)/\(r.name)/\(r.shape)/t\(r.threads)" }

  static func printRow(_ r: BenchResult) {
    var line = pad(r.name, 34) + pad(r.shape, 26) + lpad(formatTime(r.seconds), 11) + lpad(formatTime(r.best), 11)
    line += lpad(r.rate.map { fixed($0, 1) + " " + (r.unit ?? "") } ?? "", 17) + lpad(formatTime(r.cpuSeconds), 11)
    line += lpad(r.limit.map(formatTime) ?? "", 11) + lpad(r.limit.map { fixed($0 / r.best * 100, 0) + "%" } ?? "", 9)
    if let t = torch["\(r.suite)/\(r.name)/\(r.shape)"] {
      line += "   torch " + formatTime(t.median) + " (" + fixed(r.seconds / t.median, 2) + "x)"
    }
    if let old = previous[key(r)] {
      let change = (r.seconds / old.seconds - 1) * 100
      line += "   was " + formatTime(old.seconds) + " (" + (change >= 0 ? "+" : "") + fixed(change, 1) + "%)"
    }
    print(line)
  }

  static func formatTime(_ s: Double) -> String {
    s >= 1 ? fixed(s, 3) + " s" : s >= 1e-3 ? fixed(s * 1e3, 3) + " ms" : fixed(s * 1e6, 1) + " us"
  }
  static func fixed(_ x: Double, _ digits: Int) -> String {
    let p = [1.0, 10, 100, 1000][digits]
    let v = (x * p).rounded() / p
    var s = String(v)
    if let dot = s.firstIndex(of: ".") {
      let decimals = s.distance(from: dot, to: s.endIndex) - 1
      if digits == 0 {
        s = String(s[..<dot])
      } else if decimals < digits {
        s += String(repeating: "0", count: digits - decimals)
      }
    }
    return s
  }
  static func pad(_ s: String, _ n: Int) -> String {
    s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count)
  }
  static func lpad(_ s: String, _ n: Int) -> String {
    s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s
  }

  /// A tensor of uniform values in [-1, 1) (benchmarks only need realistic magnitudes).
  static func random(_ shape: [Int], seed: UInt64 = 1) -> Tensor {
    var rng = SeededRNG(seed: seed)
    let t = Tensor(zeros: shape)
    for i in 0..<t.count { t.data[i] = rng.nextFloat() * 2 - 1 }
    return t
  }
}
