import XCTest

@testable import FlrCore

/// Stages: every item of a stage sees every item of the stages before it finished, on any number of workers
/// (more than the cores too) and inside a parallel region; profiled, each stage is a row of its kind and the
/// time between stages a "stage hand-offs" row.
final class StagesTests: XCTestCase {
  private let savedThreads = Threads.count

  override func tearDown() { Threads.count = savedThreads }

  /// Stage 0 writes a[i] = i + round; stage 1 item i sums all of a (each item reads every item of stage 0);
  /// stage 2 sums stage 1. A stage that started early would read stale values.
  private func chain(round: Int) -> (a: [Int], b: [Int], total: Int) {
    let n = 48
    let a = UnsafeMutableBufferPointer<Int>.allocate(capacity: n),
      b = UnsafeMutableBufferPointer<Int>.allocate(
        capacity: n)
    let total = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    defer {
      a.deallocate()
      b.deallocate()
      total.deallocate()
    }
    a.initialize(repeating: -1)
    b.initialize(repeating: -1)
    total.pointee = -1
    var stages = Stages()
    stages.add(n, .elementwise) { i in
      for _ in 0..<(i % 5) * 200 { _ = Threads.insideRegion }  // uneven items
      a[i] = i + round
    }
    stages.add(n, .elementwise) { i in b[i] = a.reduce(0, +) + i }
    stages.add(1, .elementwise) { _ in total.pointee = b.reduce(0, +) }
    stages.run()
    return (Array(a), Array(b), total.pointee)
  }

  func testEveryStageSeesTheStagesBeforeItFinished() {
    let n = 48
    for threads in [1, 2, 3, 5] {
      Threads.count = threads
      for round in 0..<30 {
        let (a, b, total) = chain(round: round)
        let sumA = n * (n - 1) / 2 + n * round
        XCTAssertEqual(a, (0..<n).map { $0 + round }, "\(threads) threads")
        XCTAssertEqual(b, (0..<n).map { sumA + $0 }, "\(threads) threads")
        XCTAssertEqual(total, n * sumA + n * (n - 1) / 2, "\(threads) threads")
      }
    }
    // Inside a parallel region the stages run serially on the worker.
    Threads.count = 2
    let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: 2)
    defer { results.deallocate() }
    Threads.parallelFor(2) { w in results[w] = chain(round: w).total }
    XCTAssertEqual(Array(results), (0..<2).map { n * (n * (n - 1) / 2 + n * $0) + n * (n - 1) / 2 })
  }

  func testProfileHasARowPerStageKindAndTheHandOffs() {
    Threads.count = 2
    var stages = Stages()
    stages.add(4, .gemm, flops: 100) { _ in }
    stages.add(2, .attention, bytes: 50) { _ in }
    stages.add(3, .gemm, flops: 10) { _ in }
    Profile.start()
    stages.run()
    let report = Profile.stop()
    func row(_ kind: OpKind) -> OpFigures? { report.rows.first { $0.kind == kind }?.figures }
    XCTAssertEqual(row(.gemm)?.calls, 2)
    XCTAssertEqual(row(.gemm)?.flops, 110)
    XCTAssertEqual(row(.attention)?.calls, 1)
    XCTAssertEqual(row(.attention)?.bytes, 50)
    XCTAssertEqual(row(.stageHandOff)?.calls, 1)
    XCTAssertNil(row(.parallelLoop))
    XCTAssertLessThanOrEqual(report.kernelWall, report.wall * 1.0001)
  }
}
