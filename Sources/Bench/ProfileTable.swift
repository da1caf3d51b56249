// `--profile`: where one run of a figure spends its time, per op kind and pass (Core's Profile), with each
// op's share of the run, its CPU use and its rate against the limits measured in the same run.
import FlrCore

enum ProfileTable {
  /// Runs `body` once under the profiler and returns what it recorded.
  static func profiled(_ body: () throws -> Void) rethrows -> ProfileReport {
    Profile.start()
    defer { _ = Profile.stop() }
    try body()
    return Profile.stop()
  }

  static func print(_ report: ProfileReport, title: String) {
    let limits = Limits.current
    let covered = report.wall > 0 ? report.kernelWall / report.wall * 100 : 0
    Swift.print(
      "  profile of one run of \(title): wall \(Bench.formatTime(report.wall)), CPU \(Bench.formatTime(report.cpu)) "
        + "(\(Bench.fixed(report.cpu / max(report.wall, 1e-9), 2)) cores); kernels \(Bench.fixed(covered, 1))% of wall")
    Swift.print(
      "  " + Bench.pad("op", 22) + Bench.pad("pass", 9) + Bench.lpad("calls", 7) + Bench.lpad("wall", 11)
        + Bench.lpad("share", 7) + Bench.lpad("cpu", 11) + Bench.lpad("cores", 6) + Bench.lpad("GFLOP", 9)
        + Bench.lpad("GFLOP/s", 9) + Bench.lpad("of rate", 9) + Bench.lpad("GB", 8) + Bench.lpad("GB/s", 7)
        + Bench.lpad("of read", 8) + Bench.lpad("limit", 11))
    let rows = report.rows.sorted { $0.figures.wall > $1.figures.wall }
    for (kind, pass, f) in rows {
      Swift.print(
        line(kind.name, pass == .forward ? "forward" : "backward", f, total: report.wall, limits: limits, kind: kind))
    }
    var outside = OpFigures()
    outside.wall = max(0, report.wall - report.kernelWall)
    outside.cpu = max(0, report.cpu - report.kernelCPU)
    Swift.print(line("outside kernels", "", outside, total: report.wall, limits: limits))
    var total = OpFigures()
    (total.calls, total.wall, total.cpu) = (rows.reduce(0) { $0 + $1.figures.calls }, report.wall, report.cpu)
    (total.flops, total.bytes) = (report.flops, report.bytes)
    // The whole run's FLOP rate against the rate its mix of kinds would reach (time at each kind's rate, added).
    let computeSeconds = report.rows.reduce(0.0) { $0 + $1.figures.flops / (limits.gflops($1.kind) * 1e9) }
    Swift.print(
      line(
        "total", "", total, total: report.wall, limits: limits,
        rate: computeSeconds > 0 ? report.flops / computeSeconds * 1e-9 : limits.gflops, limit: limits.seconds(report)))
  }

  /// One row; "of rate" is its GFLOP/s against `rate` (by default the rate of `kind`'s kernels), "of read" its
  /// GB/s against the read bandwidth, "limit" the roofline time of its FLOPs and bytes (Limits.seconds).
  static func line(
    _ name: String, _ pass: String, _ f: OpFigures, total: Double, limits: Limits, kind: OpKind = .gemm,
    rate: Double? = nil, limit: Double? = nil
  ) -> String {
    let kindRate = rate ?? limits.gflops(kind)
    let gflop = f.flops * 1e-9, gb = f.bytes * 1e-9
    let flopRate = f.wall > 0 && gflop > 0 ? gflop / f.wall : nil
    let byteRate = f.wall > 0 && gb > 0 ? gb / f.wall : nil
    var s = "  " + Bench.pad(name, 22) + Bench.pad(pass, 9) + Bench.lpad(f.calls > 0 ? "\(f.calls)" : "", 7)
    s +=
      Bench.lpad(Bench.formatTime(f.wall), 11) + Bench.lpad(Bench.fixed(f.wall / max(total, 1e-12) * 100, 1) + "%", 7)
    s += Bench.lpad(Bench.formatTime(f.cpu), 11) + Bench.lpad(Bench.fixed(f.cpu / max(f.wall, 1e-12), 2), 6)
    s +=
      Bench.lpad(gflop > 0 ? Bench.fixed(gflop, 2) : "", 9) + Bench.lpad(flopRate.map { Bench.fixed($0, 1) } ?? "", 9)
    s += Bench.lpad(flopRate.map { Bench.fixed($0 / kindRate * 100, 0) + "%" } ?? "", 9)
    s += Bench.lpad(gb > 0 ? Bench.fixed(gb, 2) : "", 8) + Bench.lpad(byteRate.map { Bench.fixed($0, 1) } ?? "", 7)
    s += Bench.lpad(byteRate.map { Bench.fixed($0 / limits.gbps * 100, 0) + "%" } ?? "", 8)
    let limit = limit ?? max(f.flops / (kindRate * 1e9), f.bytes / (limits.gbps * 1e9))
    s += Bench.lpad(limit > 0 ? Bench.formatTime(limit) : "", 11)
    return s
  }
}
