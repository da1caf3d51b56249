// torch's CPU RNG port and FloraAccelerator's compressed accumulation against flora-opt 0.0.3 run through
// accelerate's hooks (fixtures: make_flora_accumulation).

import Foundation
import XCTest

@testable import FlrTrain

final class FloraAccumulationTests: XCTestCase {
  func testTorchGeneratorMatchesTorch() throws {
    let f = try OptimFixture("flora_accumulation.safetensors")
    let meta = try f.json("meta")
    let nextSeeds = meta["next_seed"] as! [String: Any]
    XCTAssertEqual(nextSeeds.count, 6)
    for (seed, expected) in nextSeeds {
      // Integer draws are exact.
      XCTAssertEqual(floraNextSeed(UInt64(seed)!), (expected as! NSNumber).uint64Value, "next_seed(\(seed))")
      for shape in [[4, 40], [40, 4], [8, 3], [2, 4], [1, 5]] {
        let n = shape[0] * shape[1]
        let ours = floraStableRandn(count: n, seed: UInt64(seed)!)
        let torch = try f.floats("randn.\(seed).\(shape[0])x\(shape[1])")
        if n < 16 {
          XCTAssertEqual(ours, torch, "randn \(shape) seed \(seed): double path, exact")
        } else {
          // Sleef log/cos/sin in torch's vectorized Box–Muller: within 4 ulp of the value's magnitude.
          for j in 0..<n {
            XCTAssertEqual(ours[j], torch[j], accuracy: 4 * max(abs(torch[j]), 1).ulp, "randn \(shape)")
          }
        }
      }
    }
  }

  /// Parameters after each optimizer step within 2e-6 relative (values below 10% of the tensor's scale at that
  /// scale): projections are summed in another order than torch's matmul and use Sleef-rounded normals.
  func runCase(_ name: String) throws {
    let f = try OptimFixture("flora_accumulation.safetensors")
    let c = try XCTUnwrap(f.json("meta")[name] as? [String: Any])
    let shapes = c["shapes"] as! [[Int]]
    let steps = c["steps"] as! Int, k = c["k"] as! Int, rank = c["rank"] as! Int
    let args = c["args"] as! [String: Any]
    var o = FloraOptions()
    if let b1 = args["beta1"] as? Double { o.beta1 = b1 }
    let tp = OptimTestParams(shapes: shapes, initial: try shapes.indices.map { try f.floats("\(name).p\($0).init") })
    let acc = try FloraCompressedAccumulation(
      flora: try Flora(params: tp.groups, options: o), rank: rank, microBatches: k)
    for t in 0..<steps {
      for m in 0..<k {
        for i in shapes.indices { tp.setGrad(i, try f.floats("\(name).s\(t).m\(m).g\(i)")) }
        XCTAssertEqual(try acc.addMicroBatch(lr: args["lr"] as! Double), m == k - 1)
      }
      for i in shapes.indices {
        XCTAssertLessThan(
          maxRelativeError(tp.value(i), try f.floats("\(name).s\(t).p\(i)"), floorFraction: 0.1), 2e-6,
          "\(name) step \(t) p\(i)")
      }
    }
    let expectedSeeds = (c["seeds_after"] as! [NSNumber]).map(\.uint64Value)
    XCTAssertEqual(acc.projectionSeeds.compactMap { $0 }, expectedSeeds)
  }

  func testRank8ThreeMicroBatches() throws { try runCase("r8_k3") }
  func testRank2TwoMicroBatchesWithMomentum() throws { try runCase("r2_k2") }

  func testConvLoraAIsRefused() throws {
    let tp = OptimTestParams(shapes: [[4, 3, 7, 7]], initial: [Array(repeating: 0.1, count: 588)])
    XCTAssertThrowsError(try FloraCompressedAccumulation(flora: try Flora(params: tp.groups), rank: 4, microBatches: 2))
    // With k = 1 the reference script's FloraAccelerator compresses nothing, so nothing is refused.
    XCTAssertNoThrow(try FloraCompressedAccumulation(flora: try Flora(params: tp.groups), rank: 4, microBatches: 1))
  }
}
