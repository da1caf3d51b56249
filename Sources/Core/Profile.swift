// Where the time goes: wall and CPU time per kind of kernel, forward and backward apart, with the FLOPs and
// bytes each kernel declares, so a reader sees each op's share and its rate against the machine's limits.
//
// Kernels open a scope at their entry point:
//
//   let scope = Profile.begin(.layerNorm, .forward, flops: ..., bytes: ...)
//   defer { Profile.end(scope) }
//
// Off (the default), `begin` is one load and a branch: no clock is read and nothing is stored
// (`clockReads` stays 0). On, only the outermost scope on the profiling thread is timed: a GEMM inside
// attention is attention's time (its FLOPs and bytes are added to attention's when attention declares none),
// so the rows add up to the kernels' share of the wall time without double counting. Work that parallel
// regions hand to other threads is charged to the open scope by each worker's own thread CPU clock
// (Threads.region), so CPU time per op counts both cores; a parallel loop that model code runs itself (a
// decoding step's attention, per (row, head)) is its own row, "other parallel loops". A scope without a pass
// takes `Profile.pass` (the training step sets it around its backward; checkpoint recomputes count there).

import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The kinds of kernel a profile tells apart.
public enum OpKind: Int, CaseIterable, Sendable {
  case gemm, lora, attention, layerNorm, patchConv, depthwiseConv, gelu, softmax, dropout, permute, elementwise,
    embedding, crossEntropy, optimizer, allocation, parallelLoop
  /// Products with a frozen weight held in reduced precision (`load … precision=`), apart from fp32 GEMMs.
  case bf16Product, int8Product
  /// Time inside a parallel region of dependent stages (Stages) between one stage's last item and the next
  /// stage's first: the waits and hand-offs that replace a fork/join per op.
  case stageHandOff
  /// A decoding step's per-row work on its logits after the LM head (log-softmax, logits processors, a beam's
  /// candidates or greedy's argmax), each row on one worker.
  case search

  public var name: String {
    switch self {
    case .gemm: "GEMM"
    case .lora: "LoRA products"
    case .attention: "attention"
    case .layerNorm: "LayerNorm"
    case .patchConv: "patch conv (im2col)"
    case .depthwiseConv: "depthwise conv"
    case .gelu: "GELU"
    case .softmax: "softmax"
    case .dropout: "dropout/RNG"
    case .permute: "permute copies"
    case .elementwise: "elementwise"
    case .embedding: "embedding"
    case .crossEntropy: "cross-entropy"
    case .optimizer: "optimizer step"
    case .allocation: "allocation"
    case .parallelLoop: "other parallel loops"
    case .bf16Product: "bf16 products"
    case .int8Product: "int8 products"
    case .stageHandOff: "stage hand-offs"
    case .search: "search (logits rows)"
    }
  }
}

public enum Pass: Int, CaseIterable, Sendable {
  case forward, backward
}

/// Totals of one (kind, pass) row.
public struct OpFigures: Sendable {
  public var calls = 0
  public var wall = 0.0  // seconds
  public var cpu = 0.0  // seconds, all threads
  public var flops = 0.0
  public var bytes = 0.0

  public init() {}
}

/// A finished profile: per (kind, pass) totals, and the whole profiled span.
public struct ProfileReport: Sendable {
  public var rows: [(kind: OpKind, pass: Pass, figures: OpFigures)]
  /// Wall and CPU (all threads of the profiled work) time from `start` to `stop`.
  public var wall: Double
  public var cpu: Double

  public var kernelWall: Double { rows.reduce(0) { $0 + $1.figures.wall } }
  public var kernelCPU: Double { rows.reduce(0) { $0 + $1.figures.cpu } }
  public var flops: Double { rows.reduce(0) { $0 + $1.figures.flops } }
  public var bytes: Double { rows.reduce(0) { $0 + $1.figures.bytes } }
}

public enum Profile {
  public nonisolated(unsafe) private(set) static var isOn = false
  /// The pass of scopes that name none (a plain GEMM): set by the training step around its backward.
  public nonisolated(unsafe) static var pass = Pass.forward
  /// Clock reads made by the profiler since the process started (tests: zero while off).
  public static var clockReads: Int {
    lock.lock()
    defer { lock.unlock() }
    return reads
  }

  nonisolated(unsafe) private static var reads = 0
  nonisolated(unsafe) private static var owner = pthread_t(bitPattern: 0)
  nonisolated(unsafe) private static var table = [OpFigures](repeating: OpFigures(), count: OpKind.allCases.count * 2)
  nonisolated(unsafe) private static var depth = 0
  // The open outermost scope.
  nonisolated(unsafe) private static var open = (kind: OpKind.gemm, pass: Pass.forward, declared: false)
  nonisolated(unsafe) private static var openStart = (wall: 0.0, cpu: 0.0, workers: 0.0)
  nonisolated(unsafe) private static var openWork = (flops: 0.0, bytes: 0.0)
  // CPU seconds worker threads spent in parallel regions while profiling (Threads.region adds to it).
  nonisolated(unsafe) private static var workerCPU = 0.0
  nonisolated(unsafe) private static var spanStart = (wall: 0.0, cpu: 0.0, workers: 0.0)
  private static let lock = NSLock()

  /// Starts a profile of the calling thread's kernels (and the parallel work they hand out), clearing the last.
  public static func start() {
    table = [OpFigures](repeating: OpFigures(), count: OpKind.allCases.count * 2)
    depth = 0
    pass = .forward
    owner = pthread_self()
    lock.lock()
    workerCPU = 0
    lock.unlock()
    spanStart = (wallNow(), threadCPUNow(), 0)
    isOn = true
  }

  /// Stops profiling and returns what was recorded since `start`.
  @discardableResult
  public static func stop() -> ProfileReport {
    let wall = wallNow() - spanStart.wall, cpu = threadCPUNow() - spanStart.cpu + workersNow()
    isOn = false
    pass = .forward
    var rows: [(kind: OpKind, pass: Pass, figures: OpFigures)] = []
    for kind in OpKind.allCases {
      for p in Pass.allCases where table[index(kind, p)].calls > 0 { rows.append((kind, p, table[index(kind, p)])) }
    }
    return ProfileReport(rows: rows, wall: wall, cpu: cpu)
  }

  /// A scope token: 0 nothing recorded, 1 nested in another scope, 2 the outermost (timed) scope.
  public typealias Scope = Int8

  /// Opens a scope for a kernel of `kind`; `pass` nil takes `Profile.pass`. `flops` and `bytes` are the
  /// kernel's arithmetic and memory traffic (0 when it declares none: nested scopes then fill them in).
  @inline(__always)
  public static func begin(_ kind: OpKind, _ pass: Pass? = nil, flops: Int = 0, bytes: Int = 0) -> Scope {
    guard isOn else { return 0 }
    return beginOn(kind, pass, flops: Double(flops), bytes: Double(bytes))
  }

  @inline(__always)
  public static func end(_ scope: Scope) {
    if scope != 0 { endOn(scope) }
  }

  private static func beginOn(_ kind: OpKind, _ pass: Pass?, flops: Double, bytes: Double) -> Scope {
    guard !Threads.insideRegion, pthread_equal(pthread_self(), owner) != 0 else { return 0 }
    depth += 1
    if depth > 1 {
      if !open.declared {
        openWork.flops += flops
        openWork.bytes += bytes
      }
      return 1
    }
    open = (kind, pass ?? self.pass, flops > 0 || bytes > 0)
    openWork = (flops, bytes)
    openStart = (wallNow(), threadCPUNow(), workersNow())
    return 2
  }

  private static func endOn(_ scope: Scope) {
    depth -= 1
    guard scope == 2 else { return }
    let cpu = threadCPUNow() - openStart.cpu + workersNow() - openStart.workers
    let wall = wallNow() - openStart.wall
    let i = index(open.kind, open.pass)
    table[i].calls += 1
    table[i].wall += wall
    table[i].cpu += cpu
    table[i].flops += openWork.flops
    table[i].bytes += openWork.bytes
  }

  /// Whether a scope opened now on this thread would be the timed one (the profiling thread, no scope open, not
  /// inside a parallel region): then work that times its own parts (Stages) records them with `record`.
  static var recordsOutermost: Bool {
    isOn && depth == 0 && !Threads.insideRegion && pthread_equal(pthread_self(), owner) != 0
  }

  /// Adds figures measured by the caller to the (kind, pass) row, as if an outermost scope had timed them.
  static func record(
    _ kind: OpKind, _ pass: Pass? = nil, calls: Int, wall: Double, cpu: Double, flops: Double, bytes: Double
  ) {
    let i = index(kind, pass ?? self.pass)
    table[i].calls += calls
    table[i].wall += wall
    table[i].cpu += cpu
    table[i].flops += flops
    table[i].bytes += bytes
  }

  /// Called by a parallel region's worker, on a thread other than the caller's, with the thread CPU seconds
  /// its share took.
  static func addWorkerCPU(_ seconds: Double) {
    lock.lock()
    workerCPU += seconds
    lock.unlock()
  }

  private static func workersNow() -> Double {
    lock.lock()
    defer { lock.unlock() }
    return workerCPU
  }

  private static func index(_ kind: OpKind, _ pass: Pass) -> Int { kind.rawValue * 2 + pass.rawValue }

  static func wallNow() -> Double { clock(CLOCK_MONOTONIC) }

  /// CPU seconds of the calling thread.
  static func threadCPUNow() -> Double { clock(CLOCK_THREAD_CPUTIME_ID) }

  private static func clock(_ id: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(id, &ts)
    lock.lock()
    reads += 1
    lock.unlock()
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }
}
