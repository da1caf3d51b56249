// The text-only training entry `trainingStep(imageFeatures:)` (feature caching in the trainer) against the pixel
// entry: with vision drop path off the pixel entry's tower runs the inference function and the random stream
// starts at the text, so from `imageFeatures(pixelValues:)` the two must give the same loss and LoRA gradients.
import FlrCore
import XCTest

@testable import FlrModel

final class BackwardImageFeaturesTests: XCTestCase {
  /// The two paths run the same kernels on the same inputs (the projector's training forward performs the
  /// inference forward's operations in the same order), so the bar is 1e-6 relative to each tensor's largest
  /// entry.
  func testImageFeatureEntryMatchesPixelEntry() throws {
    let ref = try ModelFixtures.reference()
    let model = try Florence2.load(folder: ModelFixtures.path("tiny-original-safetensors"))
    var config = LoRAConfig()
    config.rank = 4
    config.alpha = 8
    config.dropout = 0  // LoRA dropout draws from each layer's own stream: off, so both runs see the same masks
    config.targets = .names(["q_proj", "v_proj", "out_proj"])  // BART attention only (DaViT has fc1 too)
    let adapter = try LoRAAdapter(name: "text", config: config, model: model)
    var rng = SeededRNG(seed: 11)
    for layer in adapter.layers {  // B non-zero so every A gradient is non-trivial
      for i in 0..<layer.lora.loraB.count { layer.lora.loraB.data[i] = 0.1 * rng.normal() }
    }
    adapter.attach()
    adapter.setTraining(true)
    let reach = GradientReach(lowestModulePath: adapter.lowestModule)
    XCTAssertEqual(reach, .encoder)
    let pixels = try ref.pixelValues(), prompts = try ref.ids("input_ids"), labels = try ref.ids("labels")
    // Text dropout on: both entries must draw the same masks from the same seed.
    let options = TrainingOptions(dropout: true, visionDropout: false, reach: reach, seed: 7)

    func run(_ step: () throws -> TrainingStep) rethrows -> (Float, [[Float]]) {
      adapter.zeroGradients()
      let loss = try step().loss
      return (loss, adapter.layers.flatMap { [$0.lora.gradA.toArray(), $0.lora.gradB.toArray()] })
    }
    let (pixelLoss, pixelGrads) = try run {
      try model.trainingStep(pixelValues: pixels, promptIds: prompts, labels: labels, options: options)
    }
    let features = try model.imageFeatures(pixelValues: pixels)
    let (featureLoss, featureGrads) = try run {
      try model.trainingStep(imageFeatures: features, promptIds: prompts, labels: labels, options: options)
    }
    XCTAssertEqual(featureLoss, pixelLoss, accuracy: 1e-6 * abs(pixelLoss))
    XCTAssertEqual(featureGrads.count, pixelGrads.count)
    for (i, (got, want)) in zip(featureGrads, pixelGrads).enumerated() {
      let scale = want.map(abs).max() ?? 0
      XCTAssertGreaterThan(scale, 0, "gradient \(i) must be non-trivial")
      let diff = zip(got, want).map { abs($0 - $1) }.max() ?? 0
      XCTAssertLessThanOrEqual(diff, 1e-6 * scale, "gradient \(i)")
    }
    // Dropout really is on: another seed changes the loss.
    let other = try model.trainingStep(
      imageFeatures: features, promptIds: prompts, labels: labels,
      options: TrainingOptions(dropout: true, visionDropout: false, reach: reach, seed: 8))
    XCTAssertNotEqual(other.loss, featureLoss)
  }

  /// With a projector reach the image features' gradient comes back, equal to the pixel entry's; bad shapes throw.
  func testImageFeatureGradientAndShapes() throws {
    let ref = try ModelFixtures.reference()
    let model = try Florence2.load(folder: ModelFixtures.path("tiny-original-safetensors"))
    let pixels = try ref.pixelValues(), prompts = try ref.ids("input_ids"), labels = try ref.ids("labels")
    let options = TrainingOptions(dropout: false, reach: .vision(stage: 4))
    let full = try model.trainingStep(pixelValues: pixels, promptIds: prompts, labels: labels, options: options)
    let features = try model.imageFeatures(pixelValues: pixels)
    let text = try model.trainingStep(imageFeatures: features, promptIds: prompts, labels: labels, options: options)
    XCTAssertEqual(text.loss, full.loss, accuracy: 1e-6 * abs(full.loss))
    let got = try XCTUnwrap(text.imageFeatures), want = try XCTUnwrap(full.imageFeatures)
    XCTAssertEqual(got.shape, features.shape)
    XCTAssertLessThanOrEqual(relativeError(got, want), 1e-6)
    XCTAssertNil(text.visionOutput)
    XCTAssertNil(text.pixelValues)
    XCTAssertThrowsError(
      try model.trainingStep(
        imageFeatures: Tensor(zeros: [2, 577, 3]), promptIds: prompts, labels: labels, options: options)
    ) { XCTAssertTrue("\($0)".contains("image features"), "\($0)") }
    XCTAssertThrowsError(
      try model.trainingStep(imageFeatures: features, promptIds: prompts, labels: [labels[0]], options: options))
  }
}
