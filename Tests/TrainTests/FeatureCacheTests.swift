import FlrCore
import FlrModel
import FlrTokenizer
import XCTest

@testable import FlrTrain

/// Feature caching: with no vision module adapted and DaViT drop path off, the trainer takes each image's
/// features from the dataset's cache. Training with the cache gives the same adapter as training without it
/// (same seed, text and LoRA dropout on), and from the second epoch on no image goes through the vision tower.
final class FeatureCacheTests: XCTestCase {
  // fc1/fc2 alone would also match the DaViT MLPs: the text layers are named by a regex.
  static let textTargets = #"re:language_model\..*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)"#
  var folder: URL!
  var runs = 0

  override func setUpWithError() throws {
    folder = try TrainerFixtures.temporaryFolder(name.filter { $0.isLetter })
  }

  override func tearDown() { try? FileManager.default.removeItem(at: folder) }

  func train(
    targets: String, caching: Bool, visionDropout: Bool = false, epochs: Int = 2, onEpoch: ((Trainer) -> Void)? = nil
  ) throws -> (Trainer, [[Float]]) {
    let (model, tokenizer) = try TrainerFixtures.model()
    runs += 1
    let data = try CaptionDataset(at: try TrainerFixtures.makeDataset(in: folder.appendingPathComponent("run\(runs)")))
    let adapters = LoRAAdapters(model: model)
    var config = LoRAConfig()
    config.seed = 5
    config.targets = TargetModules.parse(targets)
    try adapters.add(LoRAAdapter(name: "c", config: config, model: model))
    defer { try? adapters.drop("c") }
    var s = TrainerSettings()
    s.prompt = TrainerFixtures.prompt
    s.seed = 3
    s.epochs = epochs
    s.learningRate = 2e-2
    s.dropout = true  // BART and LoRA dropout stay on: they must draw the same masks either way
    s.visionDropout = visionDropout
    s.featureCaching = caching
    let t = try Trainer(model: model, tokenizer: tokenizer, dataset: data, adapter: adapters.active!, settings: s)
    t.onLine = { line in if line.hasPrefix("epoch ") { onEpoch?(t) } }
    XCTAssertEqual(try t.run(), .finished)
    return (t, t.parameters.groups.map { Array(UnsafeBufferPointer(start: $0.values, count: $0.count)) })
  }

  func testCachedTrainingEqualsUncachedAndRunsTheTowerOncePerImage() throws {
    let (plain, expected) = try train(targets: Self.textTargets, caching: false)
    XCTAssertFalse(plain.cachesFeatures)
    XCTAssertEqual(plain.dataset.features.visionForwards, 0)

    var forwardsAfterEpoch: [Int] = []
    let (cached, got) = try train(targets: Self.textTargets, caching: true) { t in
      forwardsAfterEpoch.append(t.dataset.features.visionForwards)
    }
    XCTAssertTrue(cached.cachesFeatures)
    // Epoch 1 computes the 4 images' features, epoch 2 reuses them: no vision forward at all.
    XCTAssertEqual(forwardsAfterEpoch, [4, 4])
    XCTAssertEqual(cached.dataset.features.hits, 4)
    XCTAssertEqual(cached.dataset.features.count, 4)
    XCTAssertEqual(cached.stepLosses.count, plain.stepLosses.count)
    // The cached features are what the pixel path's tower computes (imageFeatures, drop path off) and the text
    // half is the same code from the same seed, so the adapters agree; the bound is 1e-6 relative to the
    // largest weight (batch 1 measured: bit-identical, worst difference 0.0).
    var worst: Float = 0, scale: Float = 0
    for (a, b) in zip(got, expected) {
      for (x, y) in zip(a, b) {
        worst = max(worst, abs(x - y))
        scale = max(scale, abs(y))
      }
    }
    print("feature cache: worst adapter difference \(worst) (largest weight \(scale))")
    XCTAssertLessThanOrEqual(worst, 1e-6 * scale)
    XCTAssertEqual(cached.stepLosses.map { Float($0) }, plain.stepLosses.map { Float($0) }, accuracy: 1e-5)
  }

  func testNoCachingWhenAVisionModuleIsAdaptedOrDropPathIsOn() throws {
    let (vision, _) = try train(targets: "qkv,fc2", caching: true, epochs: 1)
    XCTAssertFalse(vision.cachesFeatures)
    XCTAssertEqual(vision.dataset.features.visionForwards, 0)
    XCTAssertTrue(vision.dataset.features.use.contains("a vision module is adapted"), vision.dataset.features.use)
    let (dropPath, _) = try train(targets: Self.textTargets, caching: true, visionDropout: true, epochs: 1)
    XCTAssertFalse(dropPath.cachesFeatures)
    XCTAssertTrue(dropPath.dataset.features.use.contains("vision drop path is on"), dropPath.dataset.features.use)
  }

  func testAnotherModelOrKeyEmptiesTheCache() throws {
    let (t, _) = try train(targets: Self.textTargets, caching: true, epochs: 1)
    let cache = t.dataset.features
    XCTAssertEqual(cache.count, 4)
    cache.validate(model: t.model, key: t.featureCacheKey)
    XCTAssertEqual(cache.count, 4, "same model and key: kept")
    cache.validate(model: t.model, key: "merged other")
    XCTAssertEqual(cache.count, 0)
    XCTAssertEqual(cache.bytes, 0)
  }
}

func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
  XCTAssertEqual(a.count, b.count, file: file, line: line)
  for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
