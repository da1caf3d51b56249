// BART attention-probability dropout (config.attention_dropout) in the training step, against PyTorch with
// GIVEN masks (scripts/fixtures/attention_dropout.py: transformers' eager BART attention with
// `dropout(softmax(scores))` replaced by `softmax(scores) * mask`; autograd's backward). flr injects the same
// masks; every other dropout is off. Plus: p = 0 draws nothing, and the tiny config really turns it on.
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class AttentionDropoutTests: XCTestCase {
  /// The tolerances of BackwardTests (same model, same float32 kernels; see there): loss 1e-5 absolute,
  /// gradients 1e-3 relative to the tensor's largest entry. The masks move d inputs_embeds by 37% of its
  /// largest entry (the generator checks), so a mask applied wrongly, or not in backward, fails by far.
  let lossTolerance: Float = 1e-5
  let gradientTolerance: Float = 1e-3

  static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/backward/attention_dropout.safetensors").path

  /// The tiny model with its text dropout rates replaced (the weights are the fixture's).
  static func tinyModel(dropout: Float, activationDropout: Float, attentionDropout: Float) throws -> Florence2 {
    let folder = ModelFixtures.path("tiny-original-safetensors")
    var config = try FlorenceConfig.load(URL(fileURLWithPath: folder).appendingPathComponent("config.json"))
    config.text.dropout = dropout
    config.text.activationDropout = activationDropout
    config.text.attentionDropout = attentionDropout
    let set = try CheckpointSet.open(folder: folder)
    let file = set.files.first ?? folder
    let sources = try CheckpointNaming.canonicalSources(set.tensors, config: config, file: file)
    return try Florence2(config: config, weights: Weights(file: file, sources: sources))
  }

  /// Mask `index` of the fixture as F.dropout multiplies by: keep / (1 - p), [B, H, Tq, Tk].
  static func mask(_ set: CheckpointSet, _ index: Int, p: Float) throws -> Tensor {
    let shapes = try JSONDecoder().decode([[Int]].self, from: Data((set.metadata["shapes"] ?? "").utf8))
    let shape = shapes[index], count = shape.reduce(1, *)
    let bits = try XCTUnwrap(set["mask\(index)"]).bytes
    XCTAssertEqual(bits.count, (count + 7) / 8)
    let t = Tensor(zeros: shape), keep = 1 / (1 - p)
    for i in 0..<count where bits[i >> 3] & (0x80 >> UInt8(i & 7)) != 0 { t.data[i] = keep }
    return t
  }

  func testGivenMasksMatchTorch() throws {
    let want = try CheckpointSet.open(file: Self.fixture)
    let p = try XCTUnwrap(Float(want.metadata["p"] ?? ""))
    let model = try Self.tinyModel(dropout: 0, activationDropout: 0, attentionDropout: p)
    let shapes = try JSONDecoder().decode([[Int]].self, from: Data((want.metadata["shapes"] ?? "").utf8))
    let masks = try (0..<shapes.count).map { try Self.mask(want, $0, p: p) }
    let ref = try ModelFixtures.reference()
    // `text` recomputes every BART layer in backward: the recompute must get its call's mask again.
    for mode in [Checkpointing.none, .text] {
      let ctx = TrainingContext(
        options: TrainingOptions(dropout: true, visionDropout: false, checkpointing: mode, reach: .encoder, seed: 9))
      var calls = 0
      ctx.injectedAttentionMasks = { call in
        calls += 1
        return masks[call]
      }
      let step = try model.textStep(
        imageFeatures: try ref.float("image_features"), promptIds: try ref.ids("input_ids"),
        labels: try ref.ids("labels"), ctx: ctx)
      XCTAssertEqual(calls, masks.count, "one mask per attention call, in torch's order")
      XCTAssertEqual(step.loss, try want.float32("loss").data[0], accuracy: lossTolerance, "\(mode)")
      for (name, got) in [("d_encoder_output", step.encoderOutput), ("d_inputs_embeds", step.inputsEmbeds)] {
        let got = try XCTUnwrap(got, name), ref = try want.float32(name)
        XCTAssertEqual(got.shape, ref.shape, name)
        let err = relativeError(got, ref)
        XCTAssertLessThan(err, gradientTolerance, "\(name) \(mode)")
        print("attention dropout \(mode) \(name): relative error \(err)")
      }
    }
  }

  /// p = 0 (or dropout off) gives no dropout and draws nothing: the stream, and so every other mask and the
  /// kernels taken, are what they were before attention dropout existed.
  func testZeroRateDrawsNothing() {
    for (on, p) in [(true, Float(0)), (false, Float(0.1))] {
      let ctx = TrainingContext(options: TrainingOptions(dropout: on, seed: 4))
      var untouched = SeededRNG(seed: 4)
      XCTAssertNil(ctx.attentionDropout(p: p))
      XCTAssertEqual(ctx.rng.nextUInt64(), untouched.nextUInt64())
    }
    let ctx = TrainingContext(options: TrainingOptions(dropout: true, seed: 4))
    XCTAssertNotNil(ctx.attentionDropout(p: 0.1))
  }

  /// The tiny config (like Florence-2's) has attention_dropout 0.1, so BackwardTests' checkpointing test (every
  /// mode bit for bit) covers the replay of attention masks; here: that it does change the step, and is seeded.
  func testTinyConfigAppliesAttentionDropout() throws {
    let ref = try ModelFixtures.reference()
    let original = try Florence2.load(folder: ModelFixtures.path("tiny-original-safetensors"))
    XCTAssertEqual(original.config.text.attentionDropout, 0.1)
    func step(_ model: Florence2) throws -> TrainingStep {
      try model.trainingStep(
        imageFeatures: try ref.float("image_features"), promptIds: try ref.ids("input_ids"),
        labels: try ref.ids("labels"), options: TrainingOptions(dropout: true, reach: .encoder, seed: 5))
    }
    let with = try step(original)
    let without = try step(try Self.tinyModel(dropout: 0.1, activationDropout: 0.1, attentionDropout: 0))
    XCTAssertNotEqual(with.loss, without.loss)
    // Only attention dropout on, seeded: a second run is bitwise the first (masks depend on the seed only).
    let only = try Self.tinyModel(dropout: 0, activationDropout: 0, attentionDropout: 0.1)
    let a = try step(only), b = try step(only)
    XCTAssertEqual(a.loss, b.loss)
    XCTAssertEqual(try XCTUnwrap(a.inputsEmbeds).toArray(), try XCTUnwrap(b.inputsEmbeds).toArray())
  }
}
