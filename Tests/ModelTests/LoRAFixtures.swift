// Reads Tests/Fixtures/lora (made by scripts/fixtures/lora.py with PEFT 0.21.2 on model.py's tiny model).
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

enum LoRAFixtures {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/lora")
  static func path(_ name: String) -> String { root.appendingPathComponent(name).path }
  static let cases = ["seed_r4", "rslora_gaussian_r8", "patterns_r1", "legacy_bin_fp16", "bf16_r4"]

  /// The tiny model as loaded from its original-naming (bf16 safetensors, with final_logits_bias) or native
  /// (fp32, no final_logits_bias) snapshot.
  static func model(_ naming: ModuleNaming) throws -> Florence2 {
    try Florence2.load(
      folder: ModelFixtures.path(naming == .original ? "tiny-original-safetensors" : "tiny-native-safetensors"))
  }

  /// PEFT's logits for `name`, in the convention of the model loaded in `naming` (the original files carry
  /// final_logits_bias; PEFT ran on the native model, which has none).
  static func expectedLogits(_ name: String, naming: ModuleNaming) throws -> Tensor {
    let logits = try CheckpointSet.open(file: path(name + "/logits.safetensors")).float32("logits_nobias").copy()
    if naming == .original {
      let bias = try ModelFixtures.reference().float("final_logits_bias")
      let v = bias.count
      for r in 0..<(logits.count / v) { for j in 0..<v { logits.data[r * v + j] += bias.data[j] } }
    }
    return logits
  }

  static func count(_ name: String, _ key: String) throws -> Int {
    let t = try XCTUnwrap(try CheckpointSet.open(file: path(name + "/logits.safetensors"))[key])
    return Int(t.bytes.bindMemory(to: Int64.self)[0])
  }

  /// Logits of `model` (with whatever adapter is active) on model.py's inputs.
  static func logits(_ model: Florence2) throws -> Tensor {
    let ref = try ModelFixtures.reference()
    return try model.forward(
      pixelValues: try pixels(), promptIds: try ref.ids("input_ids"), labels: try ref.ids("labels")
    ).logits
  }

  nonisolated(unsafe) static var cachedPixels: Tensor?
  static func pixels() throws -> Tensor {
    if let p = cachedPixels { return p }
    let p = try ModelFixtures.reference().pixelValues()
    cachedPixels = p
    return p
  }
}
