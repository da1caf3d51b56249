// Dependent stages of small work items run in ONE parallel region: a decoding step is some 70 products,
// attentions and LayerNorms of a few microseconds to a millisecond each, and a fork/join hand-off per op
// (Threads.parallelFor) costs microseconds each, a visible share of a 3 ms step.
//
// Items are numbered through all stages in order. A worker looks at the next unclaimed item, waits (spinning,
// then sleeping) until every item of the stages before that item's has finished, counted by a second counter,
// and only then claims it (compare-and-swap; if another worker took it, it looks again). A worker only ever
// waits for items already claimed by a running worker, so there is no deadlock whatever the number of workers
// that actually start; and a waiting worker holds no item, so one that sleeps, starts late or never starts
// leaves the work to the others (a core taken by another process slows the step but does not stall it).
// Each item runs marked as a worker (Threads.serially), so the kernels it calls run serially on it.
import COpenBLAS
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

public struct Stages {
  struct Stage {
    let items: Int
    let kind: OpKind
    let flops: Double, bytes: Double
    let body: (Int) -> Void
  }
  private(set) var list: [Stage] = []

  public init() {}

  /// Appends a stage of `items` independent items, `body(item)`, that runs once every earlier stage has
  /// finished. `kind`, `flops` and `bytes`: the stage's row and work in a profile.
  public mutating func add(
    _ items: Int, _ kind: OpKind, flops: Int = 0, bytes: Int = 0, _ body: @escaping (Int) -> Void
  ) {
    if items > 0 {
      list.append(Stage(items: items, kind: kind, flops: Double(flops), bytes: Double(bytes), body: body))
    }
  }

  /// Runs every stage on `Threads.count` workers in one parallel region (serially inside a region or with
  /// one thread).
  public func run() {
    let total = list.reduce(0) { $0 + $1.items }
    var starts = [0]
    for stage in list { starts.append(starts[starts.count - 1] + stage.items) }
    let workers = Swift.min(Threads.count, total)
    let timing = Profile.recordsOutermost ? StageTiming(stages: list.count) : nil
    let regionStart = timing == nil ? 0 : Profile.wallNow(), callerCPU = timing == nil ? 0 : Profile.threadCPUNow()
    if workers <= 1 || Threads.insideRegion {
      var item = 0
      let claim = { (_: Int) -> Bool in
        item += 1
        return true
      }
      work(next: { item }, claim: claim, finished: {}, awaited: { _ in }, starts: starts, timing: timing)
    } else {
      let counters = StageCounters()
      let blasThreaded = Threads.gemmThreading == .openBLAS
      if blasThreaded { openblas_set_num_threads(1) }
      let profiled = Profile.isOn, caller = pthread_self()
      DispatchQueue.concurrentPerform(iterations: workers) { _ in
        let onWorker = profiled && pthread_equal(pthread_self(), caller) == 0
        let cpu0 = onWorker ? Profile.threadCPUNow() : 0
        Threads.serially {
          work(
            next: { counters.next.load(ordering: .relaxed) }, claim: counters.claim, finished: counters.finish,
            awaited: counters.wait(until:), starts: starts, timing: timing)
        }
        if onWorker {
          let seconds = Profile.threadCPUNow() - cpu0
          Profile.addWorkerCPU(seconds)
          timing?.addRegionCPU(seconds)
        }
      }
      if blasThreaded { openblas_set_num_threads(Int32(Threads.count)) }
    }
    if let timing {
      timing.addRegionCPU(Profile.threadCPUNow() - callerCPU)
      timing.record(list, regionWall: Profile.wallNow() - regionStart)
    }
  }

  /// One worker's loop: look at the next item, wait for the stages before its own, claim it, run it, count it
  /// done.
  private func work(
    next: () -> Int, claim: (Int) -> Bool, finished: () -> Void, awaited: (Int) -> Void, starts: [Int],
    timing: StageTiming?
  ) {
    var stage = 0
    let total = starts[starts.count - 1]
    while true {
      let item = next()
      if item >= total { return }
      while item >= starts[stage + 1] { stage += 1 }
      awaited(starts[stage])
      guard claim(item) else { continue }
      if let timing {
        // The thread CPU clock is a system call (about 0.7 us on a VM, more than some items), the wall clock is
        // not: the wall reads sit inside the CPU reads, so an item's wall time is its own.
        let cpu0 = Profile.threadCPUNow(), wall0 = Profile.wallNow()
        list[stage].body(item - starts[stage])
        let wall1 = Profile.wallNow()
        timing.add(stage: stage, start: wall0, end: wall1, cpu: Profile.threadCPUNow() - cpu0)
      } else {
        list[stage].body(item - starts[stage])
      }
      finished()
    }
  }
}

/// The claim and completion counters of one run, and where a waiting worker sleeps.
private final class StageCounters: @unchecked Sendable {
  let next = Atomic<Int>(0)
  private let done = Atomic<Int>(0)
  private let sleepers = Atomic<Int>(0)
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  /// How long a waiting worker spins (a stage's usual imbalance between the workers is a few microseconds),
  /// then how long it keeps checking between yields of its core (to a thread queued behind it, maybe the one it
  /// waits for, preempted by another process), before it sleeps.
  static let spinSeconds = 5e-6, yieldSeconds = 100e-6

  init() {
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(condition, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    pthread_cond_destroy(condition)
    mutex.deallocate()
    condition.deallocate()
  }

  /// Claims `item` if it is still the next one.
  func claim(_ item: Int) -> Bool {
    next.compareExchange(expected: item, desired: item + 1, ordering: .relaxed).exchanged
  }

  /// Counts an item finished and wakes sleeping workers. (Sequentially consistent, with the sleepers count:
  /// either the sleeper sees the new count before it sleeps or this sees the sleeper.)
  func finish() {
    done.add(1, ordering: .sequentiallyConsistent)
    if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
      pthread_mutex_lock(mutex)
      pthread_cond_broadcast(condition)
      pthread_mutex_unlock(mutex)
    }
  }

  /// Waits until `needed` items have finished: spins, then yields between checks, then sleeps (see spinSeconds).
  func wait(until needed: Int) {
    if done.load(ordering: .acquiring) >= needed { return }
    let start = Self.now()
    var spins = 0
    while done.load(ordering: .acquiring) < needed {
      spins += 1
      if spins & 63 != 0 { continue }
      let waited = Self.now() - start
      if waited < Self.spinSeconds { continue }
      if waited < Self.yieldSeconds {
        sched_yield()
        continue
      }
      sleepers.add(1, ordering: .sequentiallyConsistent)
      pthread_mutex_lock(mutex)
      while done.load(ordering: .sequentiallyConsistent) < needed { pthread_cond_wait(condition, mutex) }
      pthread_mutex_unlock(mutex)
      sleepers.subtract(1, ordering: .sequentiallyConsistent)
      return
    }
  }

  private static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }
}

/// Profile figures per stage (only while profiling): each stage's wall time from its first item's start to
/// its last item's end (stages never overlap) and its items' CPU time; the rest of the region is hand-offs.
private final class StageTiming: @unchecked Sendable {
  private let lock = NSLock()
  private var first: [Double], last: [Double], cpu: [Double]
  private var regionCPU = 0.0

  init(stages: Int) {
    first = Array(repeating: .infinity, count: stages)
    last = Array(repeating: -.infinity, count: stages)
    cpu = Array(repeating: 0, count: stages)
  }

  func add(stage: Int, start: Double, end: Double, cpu seconds: Double) {
    lock.lock()
    first[stage] = Swift.min(first[stage], start)
    last[stage] = Swift.max(last[stage], end)
    cpu[stage] += seconds
    lock.unlock()
  }

  func addRegionCPU(_ seconds: Double) {
    lock.lock()
    regionCPU += seconds
    lock.unlock()
  }

  func record(_ stages: [Stages.Stage], regionWall: Double) {
    var busy = 0.0, busyCPU = 0.0
    for (s, stage) in stages.enumerated() where last[s] >= first[s] {
      let wall = last[s] - first[s]
      busy += wall
      busyCPU += cpu[s]
      Profile.record(stage.kind, calls: 1, wall: wall, cpu: cpu[s], flops: stage.flops, bytes: stage.bytes)
    }
    Profile.record(
      .stageHandOff, calls: 1, wall: Swift.max(0, regionWall - busy), cpu: Swift.max(0, regionCPU - busyCPU), flops: 0,
      bytes: 0)
  }
}
