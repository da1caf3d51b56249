// The tensor buffer pool that training and inference passes allocate from: zeroed tensors are zero even from a
// dirty pooled buffer, a much larger pooled buffer serves a smaller request by giving its tail back, and the
// pool can be emptied.
import FlrCore
import XCTest

final class TrainingMemoryTests: XCTestCase {
  func testPoolReuseTrimsAndZeroes() {
    let savedLimit = TensorBuffer.poolLimitBytes
    defer { TensorBuffer.poolLimitBytes = savedLimit }
    TensorBuffer.trimPool()
    TensorBuffer.poolLimitBytes = 1 << 30
    let big = 4 << 20  // floats: 16 MB
    do {
      let t = Tensor(uninitialized: [big])
      t.fill(7)
    }
    XCTAssertGreaterThanOrEqual(TensorBuffer.pooledBytes, big * 4)
    // A request of a quarter of it takes that buffer (nothing else fits) and unmaps the rest.
    let small = Tensor(zeros: [big / 4])
    XCTAssertEqual(TensorBuffer.pooledBytes, 0)
    XCTAssertTrue(small.toArray().allSatisfy { $0 == 0 }, "zeros from a dirty pooled buffer")
    small.fill(3)
    withExtendedLifetime(small) {}
    let again = Tensor(zeros: [big / 4])
    XCTAssertTrue(again.toArray().allSatisfy { $0 == 0 })
    withExtendedLifetime(again) {}
    TensorBuffer.trimPool()
    XCTAssertEqual(TensorBuffer.pooledBytes, 0)
    let fresh = Tensor(zeros: [big])  // a fresh mapping is zero pages
    XCTAssertTrue(fresh.toArray().allSatisfy { $0 == 0 })
  }

  func testUninitializedTensorHasItsShape() {
    let t = Tensor(uninitialized: [3, 5])
    XCTAssertEqual(t.shape, [3, 5])
    t.fill(1)
    XCTAssertEqual(t.toArray(), [Float](repeating: 1, count: 15))
  }
}
