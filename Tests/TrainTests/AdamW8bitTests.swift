// AdamW8bit against a reference written from bitsandbytes' CUDA kernel (OPTIMIZERS.md §4.4) and, for
// tolerance, against bitsandbytes 0.50.2's CPU AdamW8bit and torch's fp32 AdamW (fixtures: make_adamw8bit).

import Foundation
import XCTest

@testable import FlrCore
@testable import FlrTrain

final class AdamW8bitTests: XCTestCase {
  func testDynamicMapsEqualBitsandbytes() throws {
    let f = try OptimFixture("adamw8bit.safetensors")
    XCTAssertEqual(QuantizationMaps.signed, try f.floats("qmap_signed"))
    XCTAssertEqual(QuantizationMaps.unsigned, try f.floats("qmap_unsigned"))
  }

  func testAgainstKernelReferenceAndBitsandbytesTolerance() throws {
    let f = try OptimFixture("adamw8bit.safetensors")
    let meta = try f.json("meta")
    let shapes = meta["shapes"] as! [[Int]]
    let steps = meta["steps"] as! Int
    let betas = meta["betas"] as! [Double]
    let lr = meta["lr"] as! Double
    let bnbDeviation = meta["bnb_cpu_vs_torch_max_dev_over_update"] as! [Double]
    let tp = OptimTestParams(shapes: shapes, initial: try [f.floats("p0.init"), f.floats("p1.init")])
    let opt = try AdamW8bit(
      params: tp.groups, betas: (betas[0], betas[1]), eps: meta["eps"] as! Double,
      weightDecay: meta["weight_decay"] as! Double)
    let initial = tp.value(0)
    for t in 0..<steps {
      tp.setGrad(0, try f.floats("s\(t).g0"))
      tp.setGrad(1, try f.floats("s\(t).g1"))
      try opt.step(lr: lr)
      // Same fp32 operations as the reference (CUDA's __powf/__fdividef replaced by exact ones in both), so
      // parameters agree to rounding (1e-6 relative, values below 10% of the tensor's scale compared at it)
      // and the 8-bit codes are identical.
      XCTAssertLessThan(maxRelativeError(tp.value(0), try f.floats("ref.s\(t).p0"), floorFraction: 0.1), 1e-6)
      XCTAssertLessThan(maxRelativeError(tp.value(1), try f.floats("ref.s\(t).p1"), floorFraction: 0.1), 1e-6)
      let state = opt.saveState()
      XCTAssertEqual(state.bytes["p0.state1"], try f.bytes("ref.s\(t).state1"), "step \(t) m codes")
      XCTAssertEqual(state.bytes["p0.state2"], try f.bytes("ref.s\(t).state2"), "step \(t) v codes")
      XCTAssertLessThan(maxRelativeError(state.tensors["p0.absmax1"]!, try f.floats("ref.s\(t).absmax1")), 1e-6)
      XCTAssertLessThan(maxRelativeError(state.tensors["p0.absmax2"]!, try f.floats("ref.s\(t).absmax2")), 1e-6)
      // Tolerance bitsandbytes itself shows: its CPU AdamW8bit deviates from torch fp32 AdamW by
      // bnbDeviation[t] × (largest parameter change). Ours (CUDA semantics) must stay within that.
      let torchP = try f.floats("torch.s\(t).p0")
      var moved: Float = 0
      var deviation: Float = 0
      for j in torchP.indices {
        moved = max(moved, abs(torchP[j] - initial[j]))
        deviation = max(deviation, abs(tp.value(0)[j] - torchP[j]))
      }
      let ours = Double(deviation / moved)
      XCTAssertLessThanOrEqual(ours, max(bnbDeviation[t], 1e-4), "step \(t): ours \(ours) vs bnb \(bnbDeviation[t])")
      print(
        "AdamW8bit step \(t): deviation from torch fp32 / max update: ours \(ours), bitsandbytes CPU \(bnbDeviation[t])"
      )
    }
  }

  func testStateRoundTripAndSmallTensorsStayFp32() throws {
    let n = 5000
    let tp = OptimTestParams(
      shapes: [[n], [10]], initial: [(0..<n).map { Float($0 % 7) * 0.01 }, Array(repeating: 1, count: 10)])
    let opt = try AdamW8bit(params: tp.groups)
    tp.setGrad(0, (0..<n).map { sin(Float($0)) })
    tp.setGrad(1, Array(repeating: 0.5, count: 10))
    try opt.step(lr: 1e-3)
    let s = opt.saveState()
    XCTAssertNotNil(s.bytes["p0.state1"])
    XCTAssertEqual(s.tensors["p0.absmax1"]?.count, 20)  // ceil(5000/256)
    XCTAssertNotNil(s.tensors["p1.state1"])  // < 4096 elements: fp32
    let other = try AdamW8bit(params: tp.groups)
    try other.loadState(s)
    XCTAssertEqual(other.saveState(), s)
    var bad = s
    bad.bytes["p0.state1"] = [1, 2, 3]
    XCTAssertThrowsError(try other.loadState(bad))
  }
}
