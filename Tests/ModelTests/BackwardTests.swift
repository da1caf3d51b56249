// The training step's loss and input gradients against PyTorch (scripts/fixtures/backward.py: the tiny model
// of scripts/fixtures/model.py, batch of 2 with prompts and labels of different lengths, dropout off, every
// weight frozen), and the step's own invariants: checkpointing changes nothing, backward stops where told.
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class BackwardTests: XCTestCase {
  /// Loss: 1e-5 absolute (float32 forward, loss ≈ 7.7; the forward parity test lands near 1e-7).
  /// Gradients: 1e-3 relative to the tensor's largest entry. A float32 backward through 4 BART layers, the
  /// projector and 5 DaViT blocks sums in a different order than PyTorch's, and the backward of softmax and
  /// LayerNorm subtracts nearly equal sums (catastrophic cancellation), so per-element rounding reaches
  /// ~1e-5..1e-4 of the largest gradient on larger models (measured here: 4e-7..9e-7); 1e-3 still catches any
  /// wrong formula (those give O(1) errors).
  let lossTolerance: Float = 1e-5
  let gradientTolerance: Float = 1e-3

  static let gradients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/backward/gradients.safetensors").path

  struct Inputs {
    let model: Florence2
    let pixels: Tensor
    let prompts: [[Int32]], labels: [[Int32]]
  }

  func inputs() throws -> Inputs {
    let ref = try ModelFixtures.reference()
    return Inputs(
      model: try Florence2.load(folder: ModelFixtures.path("tiny-original-safetensors")),
      pixels: try ref.pixelValues(), prompts: try ref.ids("input_ids"), labels: try ref.ids("labels"))
  }

  func testLossAndInputGradientsMatchTorch() throws {
    let x = try inputs()
    XCTAssertNotEqual(x.labels[0].filter { $0 != -100 }.count, x.labels[1].filter { $0 != -100 }.count)
    let want = try CheckpointSet.open(file: Self.gradients)
    let step = try x.model.trainingStep(
      pixelValues: x.pixels, promptIds: x.prompts, labels: x.labels, options: TrainingOptions(dropout: false))
    XCTAssertEqual(step.loss, try want.float32("loss").data[0], accuracy: lossTolerance)
    let pairs: [(String, Tensor?)] = [
      ("d_encoder_output", step.encoderOutput), ("d_inputs_embeds", step.inputsEmbeds),
      ("d_image_features", step.imageFeatures), ("d_vision_output", step.visionOutput),
    ]
    for (name, got) in pairs {
      let got = try XCTUnwrap(got, name), ref = try want.float32(name)
      XCTAssertEqual(got.shape, ref.shape, name)
      let err = relativeError(got, ref)
      XCTAssertLessThan(err, gradientTolerance, name)
      print("\(name): relative error \(err)")
    }

    let dPixels = try XCTUnwrap(step.pixelValues)
    XCTAssertEqual(dPixels.shape, [2, 3, 768, 768])
    let rows = [0, 383, 767]
    let wantRows = try want.float32("d_pixel_rows")  // [2, 3, 3, 768]
    let gotRows = Tensor(zeros: wantRows.shape)
    for b in 0..<2 {
      for c in 0..<3 {
        for (k, y) in rows.enumerated() {
          (gotRows.data + ((b * 3 + c) * 3 + k) * 768).update(
            from: dPixels.data + ((b * 3 + c) * 768 + y) * 768, count: 768)
        }
      }
    }
    XCTAssertLessThan(relativeError(gotRows, wantRows), gradientTolerance, "pixel rows")
    print("d_pixel_rows: relative error \(relativeError(gotRows, wantRows))")
    // Whole-tensor sums per (image, channel), float64 in the fixture: the sum within 1e-3 of Σ|g|.
    let sums = try XCTUnwrap(want["d_pixel_sums"]), absSums = try XCTUnwrap(want["d_pixel_abs_sums"])
    let wantSum = sums.bytes.bindMemory(to: Double.self), wantAbs = absSums.bytes.bindMemory(to: Double.self)
    for bc in 0..<6 {
      var s = 0.0, a = 0.0
      for i in 0..<(768 * 768) {
        let g = Double(dPixels.data[bc * 768 * 768 + i])
        s += g
        a += abs(g)
      }
      XCTAssertEqual(s, wantSum[bc], accuracy: Double(gradientTolerance) * wantAbs[bc], "pixel sum \(bc)")
      XCTAssertEqual(a, wantAbs[bc], accuracy: Double(gradientTolerance) * wantAbs[bc], "pixel |sum| \(bc)")
    }
  }

  /// Recomputing layers in backward replays the same dropout/drop-path masks: gradients equal bit for bit.
  func testCheckpointingChangesNothing() throws {
    let x = try inputs()
    // Attention-probability dropout is on too (its replay: AttentionDropoutTests).
    XCTAssertGreaterThan(x.model.config.text.attentionDropout, 0)
    var results: [TrainingStep] = []
    for mode in Checkpointing.allCases {
      results.append(
        try x.model.trainingStep(
          pixelValues: x.pixels, promptIds: x.prompts, labels: x.labels,
          options: TrainingOptions(dropout: true, checkpointing: mode, reach: .pixels, seed: 5)))
    }
    for r in results.dropFirst() {
      XCTAssertEqual(r.loss, results[0].loss)
      XCTAssertEqual(try XCTUnwrap(r.pixelValues).toArray(), try XCTUnwrap(results[0].pixelValues).toArray())
      XCTAssertEqual(try XCTUnwrap(r.inputsEmbeds).toArray(), try XCTUnwrap(results[0].inputsEmbeds).toArray())
    }
    // Dropout really is on (and seeded): another seed gives another loss, the same seed the same loss.
    let plain = try x.model.trainingStep(
      pixelValues: x.pixels, promptIds: x.prompts, labels: x.labels, options: TrainingOptions(dropout: false))
    XCTAssertNotEqual(results[0].loss, plain.loss)
    let again = try x.model.trainingStep(
      pixelValues: x.pixels, promptIds: x.prompts, labels: x.labels, options: TrainingOptions(dropout: true, seed: 5))
    XCTAssertEqual(again.loss, results[0].loss)
  }

  /// The lowest stage backward reaches forms no input gradient: its frozen patch conv runs no backward (the
  /// stage-0 conv's input is the image), and only `.pixels` runs every stage's.
  func testLowestStageRunsNoPatchConvBackward() throws {
    let x = try inputs()
    let stages = x.model.visionTower.convs.count
    func patchConvBackwards(_ reach: GradientReach) throws -> Int {
      Profile.start()
      _ = try x.model.trainingStep(
        pixelValues: x.pixels, promptIds: x.prompts, labels: x.labels,
        options: TrainingOptions(dropout: false, reach: reach))
      let report = Profile.stop()
      return report.rows.filter { $0.kind == .patchConv && $0.pass == .backward }.map(\.figures.calls).reduce(0, +)
    }
    XCTAssertEqual(try patchConvBackwards(.pixels), stages)
    XCTAssertEqual(try patchConvBackwards(.vision(stage: 0)), stages - 1)
    XCTAssertEqual(try patchConvBackwards(.vision(stage: 2)), stages - 3)
  }

  /// Backward stops at the requested module, and what it computed is the same as a full backward.
  func testReachStopsBackward() throws {
    let x = try inputs()
    func step(_ reach: GradientReach) throws -> TrainingStep {
      try x.model.trainingStep(
        pixelValues: x.pixels, promptIds: x.prompts, labels: x.labels,
        options: TrainingOptions(dropout: false, reach: reach))
    }
    let full = try step(.pixels), decoder = try step(.decoder), encoder = try step(.encoder)
    let projector = try step(.vision(stage: 4)), stage2 = try step(.vision(stage: 2))
    XCTAssertNil(decoder.inputsEmbeds)
    XCTAssertEqual(try XCTUnwrap(decoder.encoderOutput).toArray(), try XCTUnwrap(full.encoderOutput).toArray())
    XCTAssertNil(encoder.imageFeatures)
    XCTAssertEqual(try XCTUnwrap(encoder.inputsEmbeds).toArray(), try XCTUnwrap(full.inputsEmbeds).toArray())
    XCTAssertNil(projector.pixelValues)
    XCTAssertEqual(try XCTUnwrap(projector.visionOutput).toArray(), try XCTUnwrap(full.visionOutput).toArray())
    XCTAssertNil(stage2.pixelValues)
    XCTAssertEqual(stage2.loss, full.loss)
  }

  func testReachFromLowestModulePath() {
    XCTAssertEqual(GradientReach(lowestModulePath: "vision_tower.convs.0.proj"), .vision(stage: 0))
    XCTAssertEqual(
      GradientReach(lowestModulePath: "vision_tower.blocks.2.3.spatial_block.window_attn.fn.qkv"), .vision(stage: 2))
    XCTAssertEqual(GradientReach(lowestModulePath: "language_model.model.encoder.layers.0.fc1"), .encoder)
    XCTAssertEqual(
      GradientReach(lowestModulePath: "language_model.model.decoder.layers.1.encoder_attn.k_proj"), .decoder)
    XCTAssertEqual(GradientReach(lowestModulePath: nil), .decoder)
    XCTAssertLessThan(GradientReach.vision(stage: 1), .vision(stage: 0))
    XCTAssertLessThan(GradientReach.encoder, .vision(stage: 3))
  }

  func testBadLabelsThrow() throws {
    let x = try inputs()
    let ignored = x.labels.map { $0.map { _ in Int32(-100) } }
    XCTAssertThrowsError(
      try x.model.trainingStep(
        pixelValues: x.pixels, promptIds: x.prompts, labels: ignored, options: TrainingOptions(dropout: false))
    ) { XCTAssertTrue("\($0)".contains("-100"), "\($0)") }
    XCTAssertThrowsError(
      try x.model.trainingStep(
        pixelValues: x.pixels, promptIds: x.prompts, labels: [x.labels[0]], options: TrainingOptions(dropout: false)))
    XCTAssertThrowsError(
      try x.model.trainingStep(
        pixelValues: x.pixels, promptIds: x.prompts, labels: [[5, 99999], [5, 6]],
        options: TrainingOptions(dropout: false)))
  }
}
