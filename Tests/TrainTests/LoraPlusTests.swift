// LoRA+ (lora_plus_ratio): lora_B tensors step at lr × ratio in every optimizer. For AdamW, AdamW8bit and Flora
// the per-tensor math is independent of other tensors, so a lora_B with multiplier r must equal the same tensor
// stepped alone at lr·r, bit for bit. (Prodigy's LoRA+ forms two torch param groups with their own d; that is
// checked against the library in ProdigyTests.testLoraPlus*.)

import XCTest

@testable import FlrTrain

final class LoraPlusTests: XCTestCase {
  func check(_ make: ([ParamGroup]) throws -> any Optimizer) throws {
    let a: [Float] = (0..<64).map { Float($0 % 9) * 0.01 - 0.04 }
    let b: [Float] = (0..<64).map { Float($0 % 5) * 0.002 }
    let together = OptimTestParams(shapes: [[4, 16], [16, 4]], initial: [a, b], names: ["x.lora_A", "x.lora_B"])
    var params = together.groups
    applyLoraPlus(ratio: 4, to: &params)
    XCTAssertEqual(params.map(\.lrMultiplier), [1, 4])
    let alone = OptimTestParams(shapes: [[16, 4]], initial: [b], names: ["x.lora_B"])
    let opt = try make(params), single = try make(alone.groups)
    for t in 0..<3 {
      let g: [Float] = (0..<64).map { sin(Float($0 * (t + 2))) * 0.01 }
      together.setGrad(0, g)
      together.setGrad(1, g)
      alone.setGrad(0, g)
      try opt.step(lr: 1e-3)
      try single.step(lr: 4e-3)
    }
    XCTAssertEqual(together.value(1), alone.value(0), opt.name)
    XCTAssertNotEqual(together.value(1), b)
  }

  func testAdamW() throws { try check { try AdamW(params: $0) } }
  func testAdamW8bit() throws { try check { try AdamW8bit(params: $0, minEightBitSize: 16) } }
  func testFlora() throws { try check { try Flora(params: $0) } }
}
