// What gradient checkpointing recomputes: only what backward reads. The top DaViT block and the last encoder and
// decoder layers keep their activations (their backward comes first, right after the forward made them), a
// recomputed DaViT block does not form its output (its channel block's fc2 product), and `highres` recomputes the
// DaViT stages 0-1 alone. Counted as the forward Linear products each mode runs on top of checkpointing=none, from
// the model's own module list; that the gradients stay the same bits is
// BackwardTests.testCheckpointingChangesNothing and LoRADropoutCheckpointTests.
import FlrCore
import XCTest

@testable import FlrModel

final class CheckpointRecomputeTests: XCTestCase {
  func testRecomputeRunsOnlyWhatBackwardReads() throws {
    let ref = try ModelFixtures.reference()
    let model = try Florence2.load(folder: ModelFixtures.path("tiny-original-safetensors"))
    let pixels = try ref.pixelValues(), prompts = try ref.ids("input_ids"), labels = try ref.ids("labels")
    func forwardProducts(_ mode: Checkpointing) throws -> Int {
      Profile.start()
      _ = try model.trainingStep(
        pixelValues: pixels, promptIds: prompts, labels: labels,
        options: TrainingOptions(dropout: true, checkpointing: mode, reach: .pixels, seed: 5))
      let report = Profile.stop()
      return report.rows.filter { $0.kind == .gemm && $0.pass == .forward }.reduce(0) { $0 + $1.figures.calls }
    }
    func linears(under prefix: String) -> Int {
      model.modules.entries.filter {
        guard $0.path.hasPrefix(prefix), case .linear = $0.kind else { return false }
        return true
      }.count
    }
    let text = model.config.text, depths = model.config.vision.depths
    let encoderLayer = linears(under: "language_model.model.encoder.layers.0.")
    let decoderLayer = linears(under: "language_model.model.decoder.layers.0.")
    let block = linears(under: "vision_tower.blocks.0.0.")
    XCTAssertEqual(encoderLayer, 6)  // q, k, v, out, fc1, fc2: the count below is over real modules
    XCTAssertEqual(block, 8)

    let none = try forwardProducts(.none)
    // Every encoder and decoder layer but the last is run again.
    let textExtra = (text.encoderLayers - 1) * encoderLayer + (text.decoderLayers - 1) * decoderLayer
    XCTAssertEqual(try forwardProducts(.text) - none, textExtra)
    // A recomputed DaViT block runs every product but its last (the channel block's fc2).
    let recomputedBlocks = { (stages: Range<Int>, keepingTop: Bool) in
      stages.reduce(0) { $0 + depths[$1] } - (keepingTop ? 1 : 0)
    }
    XCTAssertEqual(try forwardProducts(.highres) - none, recomputedBlocks(0..<2, false) * (block - 1))
    XCTAssertEqual(try forwardProducts(.partial) - none, textExtra + recomputedBlocks(0..<2, false) * (block - 1))
    // The tower's top block is not recomputed at all.
    XCTAssertEqual(
      try forwardProducts(.all) - none, textExtra + recomputedBlocks(0..<depths.count, true) * (block - 1))
  }
}
