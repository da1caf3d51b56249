import FlrCore
import FlrModel
import FlrTokenizer
import XCTest

@testable import FlrTrain

/// `save DIR state` + `train resume` in a new process, at the Trainer level: a run stopped after 3 optimizer
/// steps writes its PEFT adapter and training state; a new adapter loaded from that folder and a new Trainer
/// built from the state finish the run. Everything random is on (model, LoRA and caption dropout, DaViT drop
/// path, shuffling, OneCycle, accumulation), so any state not carried over would show. Expected: the same
/// weights and losses as a run never stopped, bit for bit (the same operations in the same order).
final class TrainerResumeTests: XCTestCase {
  var folder: URL!
  var dataset: CaptionDataset!

  override func setUpWithError() throws {
    folder = try TrainerFixtures.temporaryFolder(name.filter { $0.isLetter })
    dataset = try CaptionDataset(at: try TrainerFixtures.makeDataset(in: folder))
  }

  override func tearDown() { try? FileManager.default.removeItem(at: folder) }

  func configure(_ s: inout TrainerSettings, _ optimizer: OptimizerKind, _ args: String) {
    s.prompt = TrainerFixtures.prompt
    s.seed = 11
    s.epochs = 2
    s.learningRate = 1e-2
    s.accumulate = 2
    s.schedule = .onecycle
    s.optimizer = optimizer
    s.optimizerArgs = try! OptimizerArgs.parse(args)
    s.augmentation = CaptionAugmentation(shuffle: true, frozenParts: 0, dropout: 0.2)
  }

  func weights(_ t: Trainer) -> [[Float]] {
    t.parameters.groups.map { Array(UnsafeBufferPointer(start: $0.values, count: $0.count)) }
  }

  func resumeMatchesStraightRun(_ optimizer: OptimizerKind, args: String = "") throws {
    let (model, tokenizer) = try TrainerFixtures.model()
    var settings = TrainerSettings()
    configure(&settings, optimizer, args)
    var config = LoRAConfig()
    config.seed = 3
    config.dropout = 0.25

    let straightAdapters = LoRAAdapters(model: model)
    try straightAdapters.add(LoRAAdapter(name: "t", config: config, model: model))
    let straight = try Trainer(
      model: model, tokenizer: tokenizer, dataset: dataset, adapter: straightAdapters.active!, settings: settings)
    XCTAssertEqual(try straight.run(), .finished)
    let expected = weights(straight)
    try straightAdapters.drop("t")

    let saved = folder.appendingPathComponent("saved")
    do {
      let adapters = LoRAAdapters(model: model)
      try adapters.add(LoRAAdapter(name: "t", config: config, model: model))
      defer { try? adapters.drop("t") }
      let first = try Trainer(
        model: model, tokenizer: tokenizer, dataset: dataset, adapter: adapters.active!, settings: settings)
      XCTAssertEqual(try first.run(isCancelled: { first.step >= 3 }), .stopped)
      try first.save(to: saved)
      try first.saveState(to: saved)
    }

    // "A new process": a new dataset object, an adapter read back from the folder, a Trainer from the state.
    let reloaded = try CaptionDataset(at: dataset.location)
    let adapters = LoRAAdapters(model: model)
    let (adapter, _) = try PEFTAdapterFile.load(from: saved.path, name: "back", model: model)
    try adapters.add(adapter)
    defer { try? adapters.drop("back") }
    let resumed = try Trainer(
      resumingFrom: saved, model: model, tokenizer: tokenizer, dataset: reloaded, adapter: adapter)
    XCTAssertEqual(resumed.step, 3)
    XCTAssertEqual(resumed.settings.optimizer, optimizer)
    XCTAssertEqual(resumed.settings.optimizerArgs, settings.optimizerArgs)
    XCTAssertEqual(try resumed.run(), .finished)
    XCTAssertEqual(resumed.step, straight.step)
    XCTAssertEqual(resumed.stepLosses, straight.stepLosses)
    XCTAssertEqual(resumed.epochLosses, straight.epochLosses)
    XCTAssertEqual(weights(resumed), expected, "\(optimizer): resumed weights differ from the straight run")
  }

  func testAdamWResumesBitForBit() throws { try resumeMatchesStraightRun(.adamw, args: "weight_decay=0.05") }

  func testAdamW8bitResumesBitForBit() throws { try resumeMatchesStraightRun(.adamw8bit) }

  func testProdigyScheduleFreeResumesBitForBit() throws { try resumeMatchesStraightRun(.prodigy) }

  /// The state refuses another dataset and says why.
  func testResumeRefusesAnotherDataset() throws {
    let (model, tokenizer) = try TrainerFixtures.model()
    var settings = TrainerSettings()
    configure(&settings, .adamw, "")
    let adapters = LoRAAdapters(model: model)
    try adapters.add(LoRAAdapter(name: "t", config: LoRAConfig(), model: model))
    defer { try? adapters.drop("t") }
    let t = try Trainer(
      model: model, tokenizer: tokenizer, dataset: dataset, adapter: adapters.active!, settings: settings)
    XCTAssertEqual(try t.run(isCancelled: { t.step >= 1 }), .stopped)
    let saved = folder.appendingPathComponent("saved")
    try t.saveState(to: saved)
    try dataset.split(fraction: 0.25, seed: 0)
    XCTAssertThrowsError(
      try Trainer(resumingFrom: saved, model: model, tokenizer: tokenizer, dataset: dataset, adapter: adapters.active!)
    ) { error in XCTAssertTrue("\(error)".contains("not the same files"), "\(error)") }
    XCTAssertThrowsError(
      try Trainer(
        resumingFrom: folder, model: model, tokenizer: tokenizer, dataset: dataset, adapter: adapters.active!)
    ) { error in XCTAssertTrue("\(error)".contains("missing trainer_state.json"), "\(error)") }
  }
}
