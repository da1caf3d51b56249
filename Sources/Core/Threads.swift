// Thread count and the one parallel loop every kernel uses.
//
// The machine has few cores, so the rule is one pool of threads: ours. By default OpenBLAS runs
// single-threaded and `Gemm` splits each large product over our workers (measured: OpenBLAS's own idle
// threads busy-wait for ~0.1 s after every call, long enough to compete with the next LayerNorm or
// softmax for the cores). `gemmThreading = .openBLAS` gives OpenBLAS the threads instead; then
// `parallelFor` drops OpenBLAS to one thread for the duration of its region. Either way a worker may
// call `Gemm` (it runs single-threaded inside that worker) without oversubscribing.
import COpenBLAS
import Dispatch

#if canImport(Glibc)
  import Glibc
#endif

public enum Threads {
  nonisolated(unsafe) private static var storedCount: Int = {
    let n = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    openblas_set_num_threads(1)
    return n
  }()

  public enum GemmThreading: Sendable { case split, openBLAS }
  /// Who parallelises GEMM (see the top of this file).
  nonisolated(unsafe) public static var gemmThreading = GemmThreading.split {
    didSet { openblas_set_num_threads(blasThreadsOutsideRegions) }
  }
  static var blasThreadsOutsideRegions: Int32 { gemmThreading == .openBLAS ? Int32(storedCount) : 1 }
  /// Per-thread mark of a worker inside a parallel region: nested regions then run serially on it.
  /// Thread-local, so two threads (say the shell and a background job) may each run their own regions.
  private static let workerKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()
  static var insideRegion: Bool { pthread_getspecific(workerKey) != nil }

  /// Runs body(i) for i in 0..<count concurrently, each marked as a worker.
  private static func region(_ count: Int, _ body: (Int) -> Void) {
    let blasThreaded = gemmThreading == .openBLAS
    if blasThreaded { openblas_set_num_threads(1) }
    // Profiling: work run on other threads is charged by their own CPU clocks (the caller's is already counted).
    let profiled = Profile.isOn, caller = pthread_self()
    let scope = Profile.begin(.parallelLoop)  // a loop of model code's own (no kernel scope around it)
    defer { Profile.end(scope) }
    DispatchQueue.concurrentPerform(iterations: count) { i in
      let outer = pthread_getspecific(workerKey)
      pthread_setspecific(workerKey, UnsafeRawPointer(bitPattern: 1))
      let onWorker = profiled && pthread_equal(pthread_self(), caller) == 0
      let cpu0 = onWorker ? Profile.threadCPUNow() : 0
      body(i)
      if onWorker { Profile.addWorkerCPU(Profile.threadCPUNow() - cpu0) }
      pthread_setspecific(workerKey, outer)
    }
    if blasThreaded { openblas_set_num_threads(Int32(storedCount)) }
  }

  /// Runs `body` with every parallel loop inside it serial on the calling thread: for work on a thread of its
  /// own (image prefetch) that must not take the cores the model's loops are split over.
  public static func serially<T>(_ body: () throws -> T) rethrows -> T {
    let outer = pthread_getspecific(workerKey)
    pthread_setspecific(workerKey, UnsafeRawPointer(bitPattern: 1))
    defer { pthread_setspecific(workerKey, outer) }
    return try body()
  }

  /// Worker count for our kernels and GEMM (default: all online cores).
  public static var count: Int {
    get { storedCount }
    set {
      storedCount = max(1, newValue)
      openblas_set_num_threads(blasThreadsOutsideRegions)
    }
  }

  /// Makes sure OpenBLAS has been told the thread count before its first call.
  @inline(__always) static func ensureConfigured() { _ = storedCount }

  /// Runs `body(i)` for i in 0..<n, split into contiguous pieces over `count` workers.
  /// Calls from inside a worker run serially on it.
  /// `grain`: the fewest items worth giving a worker (small loops then stay on one thread).
  public static func parallelFor(_ n: Int, grain: Int = 1, _ body: (Int) -> Void) {
    parallelWorkers(n, grain: grain) { _, range in for i in range { body(i) } }
  }

  /// Same split as `parallelFor`, but hands each piece its whole range (for per-piece setup).
  public static func parallelChunks(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    parallelWorkers(n, grain: grain) { _, range in body(range) }
  }

  /// `body(piece, range)` for each piece, with piece in 0..<workerCount(n, grain: grain); pieces never
  /// run concurrently with themselves, so per-piece partial sums need no locks.
  /// A loop is cut into up to `piecesPerWorker` pieces per worker, handed out dynamically, so a core taken
  /// by another process does not leave the other workers waiting for its share.
  public static func parallelWorkers(_ n: Int, grain: Int = 1, _ body: (Int, Range<Int>) -> Void) {
    let pieces = workerCount(n, grain: grain)
    if pieces <= 1 {
      if n > 0 { body(0, 0..<n) }
      return
    }
    region(pieces) { p in body(p, (p * n / pieces)..<((p + 1) * n / pieces)) }
  }

  /// Pieces per worker in `parallelWorkers` (1: one contiguous share per worker). 4 measured no better
  /// than 1 for add/GELU/LayerNorm on this machine under a load average of 19 (other builds), so 1.
  nonisolated(unsafe) public static var piecesPerWorker = 1

  /// How many pieces `parallelWorkers(n, grain:)` cuts the loop into (1 inside a region or with one thread).
  public static func workerCount(_ n: Int, grain: Int = 1) -> Int {
    insideRegion || storedCount == 1 ? 1 : max(1, min(storedCount * piecesPerWorker, n / max(grain, 1)))
  }

  /// Runs body(worker) once for each of `count` workers (not cut into pieces): for work already split
  /// into exactly that many parts, such as GEMM blocks.
  static func eachWorker(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 || insideRegion {
      for w in 0..<max(count, 0) { body(w) }
      return
    }
    region(count, body)
  }
}
