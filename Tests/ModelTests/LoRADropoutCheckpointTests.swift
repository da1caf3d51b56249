// LoRA dropout under gradient checkpointing: a recomputed layer runs its LoRA forward a second time before its
// backward; that recompute must draw the same dropout mask as the first forward, or backward differentiates
// another function than the one the loss came from. Gradients with checkpointing must equal those without.
import FlrCore
import XCTest

@testable import FlrModel

final class LoRADropoutCheckpointTests: XCTestCase {
  /// The tiny model with the reference script's targets (Linear and the patch Conv2d), dropout 0.25, A from seed 3 and B
  /// random (so every gradient depends on the masks), in training mode.
  func adapted() throws -> (Florence2, LoRAAdapter) {
    let model = try Florence2.load(folder: ModelFixtures.path("tiny-original-safetensors"))
    var config = LoRAConfig()
    config.dropout = 0.25
    config.seed = 3
    let adapter = try LoRAAdapter(name: "dropout", config: config, model: model)
    var rng = SeededRNG(seed: 17)
    for layer in adapter.layers {
      for i in 0..<layer.lora.loraB.count { layer.lora.loraB.data[i] = 0.05 * rng.normal() }
    }
    try LoRAAdapters(model: model).add(adapter)
    adapter.setTraining(true)
    return (model, adapter)
  }

  func step(_ model: Florence2, _ adapter: LoRAAdapter, _ checkpointing: Checkpointing) throws -> Float {
    let ref = try ModelFixtures.reference()
    adapter.zeroGradients()
    return try model.trainingStep(
      pixelValues: try LoRAFixtures.pixels(), promptIds: try ref.ids("input_ids"), labels: try ref.ids("labels"),
      options: TrainingOptions(
        dropout: true, checkpointing: checkpointing, reach: GradientReach(lowestModulePath: adapter.lowestModule),
        seed: 5)
    ).loss
  }

  func testRecomputedLayersReplayTheirDropoutMasks() throws {
    let (plain, plainAdapter) = try adapted()
    let plainLoss = try step(plain, plainAdapter, .none)
    for mode in [Checkpointing.text, .all] {
      let (model, adapter) = try adapted()
      // Same seeds: the same masks are drawn, so the loss is the same number and so must every gradient be.
      XCTAssertEqual(try step(model, adapter, mode), plainLoss, "\(mode)")
      for (a, b) in zip(adapter.layers, plainAdapter.layers) {
        // Same function, same kernels; the recompute is bitwise the forward (H-E's checkpointing replays its own
        // stream too), so anything but float-identical gradients is a different mask.
        XCTAssertEqual(maxDifference(a.lora.gradA, b.lora.gradA), 0, "\(mode) \(a.lora.path) A")
        XCTAssertEqual(maxDifference(a.lora.gradB, b.lora.gradB), 0, "\(mode) \(a.lora.path) B")
      }
    }
  }

  /// The replay is for the recompute only: the next step draws new masks (the loss moves with them).
  func testNextStepDrawsNewMasks() throws {
    let (model, adapter) = try adapted()
    let first = try step(model, adapter, .text)
    let second = try step(model, adapter, .text)
    XCTAssertNotEqual(first, second)
    // And the masks matter at all: without LoRA dropout the loss is a third number.
    adapter.setTraining(false)
    XCTAssertNotEqual(try step(model, adapter, .text), first)
  }

  func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a.data[i] - b.data[i])) }
    return m
  }
}
