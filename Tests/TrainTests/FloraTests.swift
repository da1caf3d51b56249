// Flora against flora-opt 0.0.3 (fixtures: make_flora): parameters after every step and the second moment.

import Foundation
import XCTest

@testable import FlrTrain

final class FloraTests: XCTestCase {
  /// Tolerance 2e-6 relative for parameters (values below 10% of a tensor's scale compared at that scale): the
  /// same fp32 operations, but torch's reductions (norms, means) sum in another order and its vectorized rsqrt
  /// is Sleef's; measured worst 1.4e-6 (zero-initialised lora_B at step 2 with momentum), otherwise < 1e-6.
  func runCase(_ name: String) throws {
    let f = try OptimFixture("flora.safetensors")
    let c = try XCTUnwrap(f.json("cases")[name] as? [String: Any])
    let shapes = c["shapes"] as! [[Int]]
    let steps = c["steps"] as! Int
    let args = c["args"] as! [String: Any]
    var o = FloraOptions()
    if let v = args["beta1"] as? Double { o.beta1 = v }
    if let v = args["weight_decay"] as? Double { o.weightDecay = v }
    if let v = args["clip_threshold"] as? Double { o.clipThreshold = v }
    if let v = args["decay_rate"] as? Double { o.decayRate = v }
    if let v = args["factorize_second_moment"] as? Bool { o.factorizeSecondMoment = v }
    if let v = args["scale_parameter"] as? Bool { o.scaleParameter = v }
    if let v = args["relative_step"] as? Bool { o.relativeStep = v }
    if let v = args["warmup_init"] as? Bool { o.warmupInit = v }
    let lr = (args["lr"] as? Double) ?? 0
    let tp = OptimTestParams(shapes: shapes, initial: try shapes.indices.map { try f.floats("\(name).p\($0).init") })
    let opt = try Flora(params: tp.groups, options: o)
    for t in 0..<steps {
      for i in shapes.indices { tp.setGrad(i, try f.floats("\(name).s\(t).g\(i)")) }
      try opt.step(lr: lr)
      for i in shapes.indices {
        XCTAssertLessThan(
          maxRelativeError(tp.value(i), try f.floats("\(name).s\(t).p\(i)"), floorFraction: 0.1), 2e-6,
          "\(name) step \(t) p\(i)")
      }
    }
    for i in shapes.indices {
      let m = opt.secondMoment(i)
      if let col = m.col {
        XCTAssertLessThan(maxRelativeError(m.first, try f.floats("\(name).exp_avg_sq_row\(i)")), 1e-6)
        XCTAssertLessThan(maxRelativeError(col, try f.floats("\(name).exp_avg_sq_col\(i)")), 1e-6)
      } else {
        XCTAssertLessThan(maxRelativeError(m.first, try f.floats("\(name).exp_avg_sq\(i)")), 1e-6)
      }
      if !m.expAvg.isEmpty {
        XCTAssertLessThan(maxRelativeError(m.expAvg, try f.floats("\(name).exp_avg\(i)"), floorFraction: 0.1), 1e-6)
      }
    }
  }

  func testSeedDefaults() throws { try runCase("default") }
  func testMomentumDecayClip() throws { try runCase("momentum_wd") }
  func testUnfactoredUnscaled() throws { try runCase("unfactored_noscale") }
  func testRelativeStepWarmup() throws { try runCase("relative_step") }

  func testCompressedMomentumIsRefusedClearly() throws {
    let tp = OptimTestParams(shapes: [[16, 32]], initial: [Array(repeating: 0.1, count: 512)])
    var o = FloraOptions()
    o.rank = 4
    o.beta1 = 0.9
    XCTAssertThrowsError(try Flora(params: tp.groups, options: o)) { error in
      XCTAssertTrue("\(error)".contains("compressed momentum"), "\(error)")
    }
    // LoRA-shaped factors (max/min > 4) are fine with the same options, as in flora-opt.
    let lora = OptimTestParams(shapes: [[4, 64]], initial: [Array(repeating: 0.1, count: 256)])
    XCTAssertNoThrow(try Flora(params: lora.groups, options: o))
  }
}
