// Adapters written by PEFT load in flr and give PEFT's logits, in both namings; merge gives the same
// function; use/drop switch layers in and out.
import FlrCheckpoints
import FlrCore
import XCTest

@testable import FlrModel

final class LoRAParityTests: XCTestCase {
  /// 1e-4 relative on the whole logits tensor (the model parity tests' bar: float32 with another summation
  /// order than PyTorch). Each adapter moves the logits by 8.6e-4 to 0.8 relative (checked below to be at
  /// least 5x the bar), so the bar is meaningful.
  let tolerance: Float = 1e-4

  func testPEFTAdaptersGivePEFTLogits() throws {
    for naming in ModuleNaming.allCases {
      let model = try LoRAFixtures.model(naming)
      let adapters = LoRAAdapters(model: model)
      let baseLogits = try LoRAFixtures.logits(model)
      for name in LoRAFixtures.cases {
        let (adapter, detected) = try PEFTAdapterFile.load(
          from: LoRAFixtures.path("\(name)/\(naming.rawValue)"), name: name, model: model)
        XCTAssertEqual(detected, naming, name)
        XCTAssertEqual(adapter.layers.count, try LoRAFixtures.count(name, "modules"), name)
        XCTAssertEqual(adapter.parameterCount, try LoRAFixtures.count(name, "parameters"), name)
        try adapters.add(adapter)
        let want = try LoRAFixtures.expectedLogits(name, naming: naming)
        let got = try LoRAFixtures.logits(model)
        let error = relativeError(got, want)
        XCTAssertLessThan(error, tolerance, "\(name) \(naming)")
        XCTAssertGreaterThan(relativeError(baseLogits, want), 5 * tolerance, "\(name): the adapter must matter")
        print("LoRA parity \(name) (\(naming.rawValue)): relative error \(error)")
      }
      // use none = base again, exactly
      try adapters.use(nil)
      XCTAssertEqual(try LoRAFixtures.logits(model).toArray(), baseLogits.toArray())
      try adapters.use("patterns_r1")
      XCTAssertLessThan(
        relativeError(try LoRAFixtures.logits(model), try LoRAFixtures.expectedLogits("patterns_r1", naming: naming)),
        tolerance)
      try adapters.drop("patterns_r1")
      XCTAssertNil(adapters.active)
      XCTAssertEqual(try LoRAFixtures.logits(model).toArray(), baseLogits.toArray())
    }
  }

  /// merge folds s·B·A into the base weights: same logits without LoRA layers; unmerge restores the base
  /// (PEFT subtracts too: float rounding, so 1e-6 relative rather than bit-equal).
  func testMergeAndUnmerge() throws {
    let model = try LoRAFixtures.model(.original)
    let adapters = LoRAAdapters(model: model)
    let baseLogits = try LoRAFixtures.logits(model)
    let (adapter, _) = try PEFTAdapterFile.load(
      from: LoRAFixtures.path("seed_r4/original"), name: "seed", model: model)
    try adapters.add(adapter)
    try adapters.merge(nil)
    XCTAssertNil(adapters.active)
    XCTAssertFalse(
      model.namedModules().contains { e in
        if case .linear(let s) = e.kind { return s.get() is LoRALinear }
        if case .conv2d(let s) = e.kind { return s.get() is LoRAConv2d }
        return false
      })
    let merged = try LoRAFixtures.logits(model)
    XCTAssertLessThan(relativeError(merged, try LoRAFixtures.expectedLogits("seed_r4", naming: .original)), tolerance)
    XCTAssertThrowsError(try adapters.use("seed"))
    XCTAssertThrowsError(try adapters.drop("seed"))
    try adapters.unmerge()
    XCTAssertLessThan(relativeError(try LoRAFixtures.logits(model), baseLogits), 1e-6)
    XCTAssertThrowsError(try adapters.unmerge())
  }
}
