// Every LoRA A/B gradient of one training step against PEFT (scripts/fixtures/backward.py, lora_gradients:
// the tiny model with LoRA r=4, alpha=8, dropout 0 on the 72 Linear modules the reference script's target names hit in the
// native model, A and B random so no gradient is trivially zero; batch of 2, labels of different lengths).
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class BackwardLoRATests: XCTestCase {
  static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/backward/lora_gradients.safetensors").path

  /// Loss 1e-5 absolute; gradients 2e-3 relative to each tensor's largest entry. Measured: worst 7.0e-4 (decoder
  /// layer 1 encoder_attn.q_proj A; most modules < 1e-4) with OpenBLAS's Haswell kernels, 1.2e-3 with its AVX-512
  /// ones (SkylakeX / Cooperlake, its own choice on a Zen 4 / Zen 5): other sums, other roundings. That is float32
  /// conditioning, not a formula error:
  /// PyTorch's own float32 gradient of that module differs from its float64 one by 6.0e-4 (random A and B
  /// with scaling 2 make the cross-attention softmax nearly one-hot, so dq is a difference of close sums).
  func testEveryLoRAGradientMatchesPEFT() throws {
    let want = try CheckpointSet.open(file: Self.fixture)
    let paths = want.names.filter { $0.hasSuffix(".lora_A") }.map { String($0.dropLast(".lora_A".count)) }
    XCTAssertEqual(paths.count, 72)
    let ref = try ModelFixtures.reference()
    let model = try Florence2.load(folder: ModelFixtures.path("tiny-original-safetensors"))
    var config = LoRAConfig()
    config.rank = 4
    config.alpha = 8
    config.dropout = 0
    config.targets = .names(paths)
    let adapter = try LoRAAdapter(name: "parity", config: config, model: model)
    XCTAssertEqual(adapter.layers.count, 72)
    for layer in adapter.layers {
      let a = try want.float32(layer.lora.path + ".lora_A"), b = try want.float32(layer.lora.path + ".lora_B")
      XCTAssertEqual(layer.lora.loraA.count, a.count, layer.lora.path)
      XCTAssertEqual(layer.lora.loraB.count, b.count, layer.lora.path)
      layer.lora.loraA.data.update(from: a.data, count: a.count)
      layer.lora.loraB.data.update(from: b.data, count: b.count)
    }
    adapter.attach()
    adapter.setTraining(true)
    adapter.zeroGradients()
    let step = try model.trainingStep(
      pixelValues: try ref.pixelValues(), promptIds: try ref.ids("input_ids"), labels: try ref.ids("labels"),
      options: TrainingOptions(dropout: false, reach: GradientReach(lowestModulePath: adapter.lowestModule)))
    XCTAssertEqual(step.loss, try want.float32("loss").data[0], accuracy: 1e-5)
    var worst: Float = 0
    for layer in adapter.layers {
      for (tag, got) in [("A", layer.lora.gradA), ("B", layer.lora.gradB)] {
        let expected = try want.float32(layer.lora.path + ".grad_" + tag)
        let err = relativeError(got, expected)
        worst = max(worst, err)
        if err > 1e-4 { print("\(layer.lora.path) grad \(tag): relative error \(err)") }
        XCTAssertLessThan(err, 2e-3, "\(layer.lora.path) grad \(tag)")
      }
    }
    print("LoRA gradients: worst relative error \(worst) over \(adapter.layers.count) modules")
  }
}
