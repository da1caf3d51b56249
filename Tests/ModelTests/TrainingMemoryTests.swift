// The tensor buffer pool that training and inference passes allocate from: zeroed tensors are zero even from a
// dirty pooled buffer, a much larger pooled buffer serves a smaller request and keeps the rest pooled, the two
// join again when the smaller one comes back, the pool can be emptied, and its default limit scales with the machine.
import FlrCore
import Foundation
import XCTest

final class TrainingMemoryTests: XCTestCase {
  func testPoolSplitsJoinsAndZeroes() {
    let savedLimit = TensorBuffer.poolLimitBytes
    defer { TensorBuffer.poolLimitBytes = savedLimit }
    TensorBuffer.trimPool()
    TensorBuffer.poolLimitBytes = 1 << 30
    let big = 4 << 20  // floats: 16 MB
    do {
      let t = Tensor(uninitialized: [big])
      t.fill(7)
    }
    XCTAssertEqual(TensorBuffer.pooledBytes, big * 4)
    let mapped = TensorBuffer.freshlyMappedBytes
    do {
      // A request of a quarter of it takes its head; the other three quarters stay pooled.
      let small = Tensor(zeros: [big / 4])
      XCTAssertEqual(TensorBuffer.pooledBytes, big * 3)
      XCTAssertTrue(small.toArray().allSatisfy { $0 == 0 }, "zeros from a dirty pooled buffer")
      small.fill(3)
      let again = Tensor(zeros: [big / 4])
      XCTAssertTrue(again.toArray().allSatisfy { $0 == 0 })
      XCTAssertEqual(again.data, small.data + big / 4, "the next quarter")
      withExtendedLifetime((small, again)) {}
    }
    // Both came back and joined the rest: the whole buffer serves a request of its size, nothing mapped anew.
    XCTAssertEqual(TensorBuffer.pooledBytes, big * 4)
    let whole = Tensor(uninitialized: [big])
    XCTAssertEqual(TensorBuffer.freshlyMappedBytes, mapped)
    XCTAssertEqual(TensorBuffer.pooledBytes, 0)
    withExtendedLifetime(whole) {}
    TensorBuffer.trimPool()
    XCTAssertEqual(TensorBuffer.pooledBytes, 0)
    let fresh = Tensor(zeros: [big])  // a fresh mapping is zero pages
    XCTAssertTrue(fresh.toArray().allSatisfy { $0 == 0 })
    XCTAssertEqual(TensorBuffer.freshlyMappedBytes, mapped + big * 4)
  }

  /// The pool's limit is half the machine's memory, at least 4 GiB: a base LoRA step cycles about 1.7 GB per image
  /// through it, so on a machine of 16 GB or more a batch of 4 (about 6.7 GB) keeps its pages between steps.
  func testDefaultLimitScalesWithTheMachine() {
    XCTAssertEqual(TensorBuffer.poolLimitBytes, max(4 << 30, Int(ProcessInfo.processInfo.physicalMemory / 2)))
  }

  func testUninitializedTensorHasItsShape() {
    let t = Tensor(uninitialized: [3, 5])
    XCTAssertEqual(t.shape, [3, 5])
    t.fill(1)
    XCTAssertEqual(t.toArray(), [Float](repeating: 1, count: 15))
  }
}
