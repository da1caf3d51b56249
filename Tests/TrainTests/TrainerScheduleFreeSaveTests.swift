import FlrCheckpoints
import FlrCore
import FlrModel
import FlrTokenizer
import XCTest

@testable import FlrTrain

/// `sf_save=inplace` (TrainerSettings.scheduleFreeSave): a prodigy-sf run that samples every 2 steps and saves every
/// step must do what train_florence_peft.py does (OPTIMIZERS.md §1, §5.8): optimizer.eval() in place before a
/// sample, a save writes the weights as they are (y, or x right after a sample), optimizer.train() before the next
/// micro-batch. The reference is a run with no sample/save points that this test stops after every step and
/// drives by hand: eval() on the sampling steps, record the weights (what the reference script saves), train()
/// before going on. Same operations in the same order, so equality is bit for bit. The averaged run (default) saves
/// x at step 1 where the reference script saves y, and its trajectory has no round trips: both must differ from the
/// in-place run.
/// Also: a save without state drops a stale training state from the folder (other files stay).
final class TrainerScheduleFreeSaveTests: XCTestCase {
  var folder: URL!
  var dataset: CaptionDataset!

  override func setUpWithError() throws {
    folder = try TrainerFixtures.temporaryFolder(name.filter { $0.isLetter })
    dataset = try CaptionDataset(at: try TrainerFixtures.makeDataset(in: folder))
  }

  override func tearDown() { try? FileManager.default.removeItem(at: folder) }

  func makeTrainer(_ edit: (inout TrainerSettings) -> Void) throws -> (Trainer, LoRAAdapters) {
    let (model, tokenizer) = try TrainerFixtures.model()
    let adapters = LoRAAdapters(model: model)
    var config = LoRAConfig()
    config.seed = 3
    config.dropout = 0.25
    try adapters.add(LoRAAdapter(name: "t", config: config, model: model))
    var s = TrainerSettings()
    s.prompt = TrainerFixtures.prompt
    s.seed = 5
    s.epochs = 2
    s.optimizer = .prodigy
    s.learningRate = 1
    // d0=1e-2: a few steps move y and z far enough apart that x and y differ in every tensor.
    s.optimizerArgs = try OptimizerArgs.parse("d0=1e-2")
    edit(&s)
    let trainer = try Trainer(
      model: model, tokenizer: tokenizer, dataset: dataset, adapter: adapters.active!, settings: s)
    return (trainer, adapters)
  }

  func weights(_ t: Trainer) -> [[Float]] {
    t.parameters.groups.map { Array(UnsafeBufferPointer(start: $0.values, count: $0.count)) }
  }

  /// The LoRA tensors of a saved PEFT adapter, in the trainer's group order.
  func saved(_ folder: URL, _ t: Trainer) throws -> [[Float]] {
    let file = try SafetensorsReader.read(path: folder.appendingPathComponent("adapter_model.safetensors").path)
    var byName: [String: [Float]] = [:]
    for tensor in file.tensors {
      var values = [Float](repeating: 0, count: tensor.bytes.count / 4)
      values.withUnsafeMutableBytes { $0.copyMemory(from: tensor.bytes) }
      byName[tensor.name] = values
    }
    return try t.parameters.groups.map { try XCTUnwrap(byName["base_model.model." + $0.name], $0.name) }
  }

  func withSavePoints(_ s: inout TrainerSettings, _ mode: TrainerSettings.ScheduleFreeSave, _ out: String) {
    s.scheduleFreeSave = mode
    s.sampleEverySteps = 2
    s.saveEverySteps = 1
    s.saveState = true
    s.outputFolder = folder.appendingPathComponent(out)
    s.name = "r"
  }

  func testInPlaceModeSwitchesAsTheReferenceScriptAndDiffersFromAveraged() throws {
    // Reference: no sample/save points; stopped after every step and driven by hand.
    let (reference, refAdapters) = try makeTrainer { $0.scheduleFreeSave = .averaged }
    let sf = try XCTUnwrap(reference.optimizer as? ProdigyPlusScheduleFree)
    var expected: [[[Float]]] = []  // expected[n - 1]: what the reference script saves at step n
    while true {
      let target = reference.step + 1
      let outcome = try reference.run(isCancelled: { reference.step >= target })
      if outcome == .finished { break }
      XCTAssertEqual(outcome, .stopped)
      if reference.step % 2 == 0 { sf.eval() }  // sample point: optimizer.eval(), then sample
      expected.append(weights(reference))  // save point: the weights as they are
      if reference.step < reference.totalSteps { sf.train() }  // the next micro-batch's optimizer.train()
    }
    XCTAssertEqual(expected.count, 8)
    XCTAssertFalse(sf.trainMode, "the last step sampled: the run ends in eval mode, as the reference script's")
    try refAdapters.drop("t")

    let (inPlace, inPlaceAdapters) = try makeTrainer { withSavePoints(&$0, .inplace, "inplace") }
    var sampledWeights: [[[Float]]] = []
    inPlace.onSample = { t in sampledWeights.append(self.weights(t)) }
    XCTAssertEqual(try inPlace.run(), .finished)
    let run = folder.appendingPathComponent("inplace/r")
    for n in 1...8 {
      XCTAssertTrue(try saved(run.appendingPathComponent("step-\(n)"), inPlace) == expected[n - 1], "step-\(n)")
    }
    XCTAssertTrue(sampledWeights == [2, 4, 6, 8].map { expected[$0 - 1] }, "samples see x in place")
    XCTAssertTrue(try saved(run, inPlace) == expected[7], "final save after a sample at the last step: x")
    XCTAssertTrue(weights(inPlace) == expected[7], "the run ends in eval mode with x in place")
    // The state written with the adapter resumes in in-place mode, in eval mode with the x values at step 8.
    let (state, _, _) = try TrainerCheckpoint.read(from: run.appendingPathComponent("step-8"))
    XCTAssertEqual(try state.settings.settings().scheduleFreeSave, .inplace)
    try inPlaceAdapters.drop("t")

    // Averaged (default): saves x at every step, training never switched in place.
    let (averaged, avgAdapters) = try makeTrainer { withSavePoints(&$0, .averaged, "avg") }
    averaged.onSample = { _ in }
    XCTAssertEqual(try averaged.run(), .finished)
    defer { try? avgAdapters.drop("t") }
    let avgRun = folder.appendingPathComponent("avg/r")
    // Step 1: x = y = z (schedule-free's first averaging weight is 1), so both modes save the same.
    XCTAssertTrue(try saved(avgRun.appendingPathComponent("step-1"), averaged) == expected[0], "step 1")
    // Step 2 sampled in both: the same x (no round trip has happened yet).
    XCTAssertTrue(try saved(avgRun.appendingPathComponent("step-2"), averaged) == expected[1], "step 2")
    // Step 3: averaged saves x, the reference script saves its y, which carries step 2's eval()/train() round trip.
    XCTAssertFalse(try saved(avgRun.appendingPathComponent("step-3"), averaged) == expected[2], "step 3")
    // Step 4 samples in both (x), yet the reference script's x comes from the perturbed trajectory: the runs have
    // parted.
    XCTAssertFalse(try saved(avgRun.appendingPathComponent("step-4"), averaged) == expected[3], "step 4")
    XCTAssertFalse(try saved(avgRun, averaged) == expected[7], "final adapters of the two modes")
    XCTAssertTrue(try XCTUnwrap(averaged.optimizer as? ProdigyPlusScheduleFree).trainMode)
  }

  /// sf_save=inplace stopped right after a sampling step (weights x in place, eval mode), saved with its state and
  /// resumed by a new Trainer: the state keeps x and the mode, the first micro-batch's train() switches back, and
  /// the run ends on the straight in-place run's weights, bit for bit.
  func testInPlaceModeResumesFromEvalModeBitForBit() throws {
    let (straight, straightAdapters) = try makeTrainer { withSavePoints(&$0, .inplace, "straight") }
    XCTAssertEqual(try straight.run(), .finished)
    let expected = weights(straight)
    try straightAdapters.drop("t")

    let saved = folder.appendingPathComponent("saved")
    do {
      let (first, adapters) = try makeTrainer { withSavePoints(&$0, .inplace, "first") }
      defer { try? adapters.drop("t") }
      XCTAssertEqual(try first.run(isCancelled: { first.step >= 2 }), .stopped)
      XCTAssertFalse(try XCTUnwrap(first.scheduleFree).trainMode, "step 2 sampled: eval mode")
      try first.saveState(to: saved)
    }
    let (model, tokenizer) = try TrainerFixtures.model()
    let adapters = LoRAAdapters(model: model)
    let (adapter, _) = try PEFTAdapterFile.load(from: saved.path, name: "back", model: model)
    try adapters.add(adapter)
    defer { try? adapters.drop("back") }
    let resumed = try Trainer(
      resumingFrom: saved, model: model, tokenizer: tokenizer, dataset: dataset, adapter: adapter)
    XCTAssertEqual(resumed.settings.scheduleFreeSave, .inplace)
    XCTAssertFalse(try XCTUnwrap(resumed.scheduleFree).trainMode)
    XCTAssertEqual(try resumed.run(), .finished)
    XCTAssertTrue(weights(resumed) == expected, "resumed in-place run differs from the straight one")
  }

  /// `save DIR` after `save DIR state` into the same folder: the old trainer_state.json and optimizer.safetensors
  /// must go (they would resume another point of the run beside this adapter); files that are not the adapter's
  /// or the state's stay. Both ways in: through the run (Trainer.saveAdapter) and a plain PEFTAdapterFile.save with
  /// `dropping:` (the shell's save of an adapter with no run).
  func testSaveWithoutStateDropsAStaleState() throws {
    let (trainer, adapters) = try makeTrainer { $0.epochs = 1 }
    defer { try? adapters.drop("t") }
    XCTAssertEqual(try trainer.run(isCancelled: { trainer.step >= 2 }), .stopped)
    let dir = folder.appendingPathComponent("saved")
    let fm = FileManager.default
    func exists(_ name: String) -> Bool { fm.fileExists(atPath: dir.appendingPathComponent(name).path) }
    for plain in [
      { try trainer.saveAdapter(to: dir, withState: false) },
      {
        try PEFTAdapterFile.save(
          trainer.parameters.adapter, to: dir.path, dropping: TrainerCheckpoint.stateFiles)
      },
    ] {
      try trainer.saveState(to: dir)
      try Data("keep".utf8).write(to: dir.appendingPathComponent("notes.txt"))
      XCTAssertTrue(exists(TrainerCheckpoint.stateFile) && exists(TrainerCheckpoint.tensorFile))
      try plain()
      XCTAssertFalse(exists(TrainerCheckpoint.stateFile), "stale trainer_state.json survived")
      XCTAssertFalse(exists(TrainerCheckpoint.tensorFile), "stale optimizer.safetensors survived")
      XCTAssertTrue(exists("adapter_model.safetensors") && exists("adapter_config.json") && exists("notes.txt"))
      XCTAssertThrowsError(try TrainerCheckpoint.read(from: dir))
    }
  }
}
