// AdamW and OneCycleLR against torch (fixtures: scripts/fixtures/optim.py make_adamw).

import Foundation
import XCTest

@testable import FlrTrain

final class AdamWTests: XCTestCase {
  /// Runs one case of adamw.safetensors; parameters after every step within 1e-6 relative of torch.
  /// Tolerance: the arithmetic is torch's fp32 sequence op for op; what remains is torch's Sleef sqrt (an ulp
  /// off IEEE on ~20% of inputs), i.e. ~1e-7 of each update. Where an element's value has cancelled to a few
  /// percent of the tensor's scale (lora_B starts at 0) that is ~3e-6 of the element itself, so elements below
  /// 10% of the tensor's largest magnitude are compared at that scale.
  func runCase(_ name: String) throws {
    let f = try OptimFixture("adamw.safetensors")
    let c = try XCTUnwrap(f.json("cases")[name] as? [String: Any])
    let shapes = c["shapes"] as! [[Int]]
    let steps = c["steps"] as! Int, micro = c["micro"] as! Int
    let betas = c["betas"] as! [Double]
    let lrs = c["lrs"] as? [Double]
    let tp = OptimTestParams(
      shapes: shapes, initial: try (0..<shapes.count).map { try f.floats("\(name).p\($0).init") })
    let opt = try AdamW(
      params: tp.groups, betas: (betas[0], betas[1]), eps: c["eps"] as! Double,
      weightDecay: c["weight_decay"] as! Double, amsgrad: c["amsgrad"] as! Bool, maximize: c["maximize"] as! Bool)
    for t in 0..<steps {
      opt.zeroGrad()
      for m in 0..<micro {
        for i in shapes.indices {
          let g = try f.floats("\(name).s\(t).m\(m).g\(i)")
          g.withUnsafeBufferPointer { tp.groups[i].accumulate(micro: $0.baseAddress!, dividedBy: micro) }
        }
      }
      try opt.step(lr: lrs?[t] ?? (c["lr"] as! Double))
      for i in shapes.indices {
        let err = maxRelativeError(tp.value(i), try f.floats("\(name).s\(t).p\(i)"), floorFraction: 0.1)
        XCTAssertLessThan(err, 1e-6, "\(name) step \(t) param \(i)")
      }
    }
    let state = opt.saveState()
    for i in shapes.indices {
      XCTAssertLessThan(
        maxRelativeError(state.tensors["p\(i).exp_avg"]!, try f.floats("\(name).exp_avg\(i)")), 1e-6)
      XCTAssertLessThan(
        maxRelativeError(state.tensors["p\(i).exp_avg_sq"]!, try f.floats("\(name).exp_avg_sq\(i)")), 1e-6)
      if c["amsgrad"] as! Bool {
        XCTAssertLessThan(
          maxRelativeError(state.tensors["p\(i).max_exp_avg_sq"]!, try f.floats("\(name).max_exp_avg_sq\(i)")), 1e-6)
      }
    }
  }

  func testDefaultArguments() throws { try runCase("default") }
  func testAccumulationAndDecay() throws { try runCase("accum") }
  func testWithOneCycleLearningRates() throws { try runCase("onecycle") }
  func testAmsgradMaximize() throws { try runCase("amsgrad_maximize") }

  func testStateRoundTripContinuesIdentically() throws {
    let shapes = [[3, 5]]
    let a = OptimTestParams(shapes: shapes, initial: [(0..<15).map { Float($0) * 0.1 }])
    let b = OptimTestParams(shapes: shapes, initial: [a.value(0)])
    let oa = try AdamW(params: a.groups), ob = try AdamW(params: b.groups)
    let g: [Float] = (0..<15).map { sin(Float($0)) }
    a.setGrad(0, g)
    try oa.step(lr: 1e-2)
    b.values[0].update(from: a.values[0], count: 15)
    try ob.loadState(oa.saveState())
    a.setGrad(0, g.reversed())
    b.setGrad(0, g.reversed())
    try oa.step(lr: 1e-2)
    try ob.step(lr: 1e-2)
    XCTAssertEqual(a.value(0), b.value(0))
    XCTAssertThrowsError(try ob.loadState(OptimizerState(optimizer: "Flora")))
  }
}

final class OneCycleTests: XCTestCase {
  /// torch's lr for every index 0…T, for eight T. Same formula and Double operations as torch (and the same
  /// glibc cos as CPython), so the sequences must be bit-identical.
  func testMatchesTorchExactly() throws {
    let f = try OptimFixture("onecycle.safetensors")
    let totals = f.tensors.keys.filter { !$0.contains(".") }.map { Int($0.dropFirst())! }.sorted()
    XCTAssertEqual(totals, [1, 2, 3, 5, 10, 37, 100, 1000])
    for T in totals {
      let expected = try f.doubles("T\(T)")
      XCTAssertEqual(expected.count, T + 1)
      let s = try OneCycleLR(maxLR: f.doubles("T\(T).max_lr")[0], totalSteps: T)
      XCTAssertEqual(try (0...T).map { try s.lr(at: $0) }, expected, "T=\(T)")
      XCTAssertThrowsError(try s.lr(at: T + 1))
    }
  }

  func testSeedExampleValues() throws {
    // OPTIMIZERS.md §3 example (T=10, max 1e-4), values verified against torch there.
    let s = try OneCycleLR(maxLR: 1e-4, totalSteps: 10)
    XCTAssertEqual(try s.lr(at: 0), 4e-6, accuracy: 1e-12)
    XCTAssertEqual(try s.lr(at: 2), 1e-4, accuracy: 1e-12)
    XCTAssertEqual(try s.lr(at: 9), 4e-10, accuracy: 1e-15)
  }
}
