import FlrCore
import FlrModel
import FlrTokenizer
import XCTest

@testable import FlrTrain

/// Flora's compressed gradient accumulation (accumulation_rank) inside the Trainer, on the tiny random Florence-2
/// and 4 real images. Projection adds noise, so a compressed run is not the uncompressed one; what is checked:
/// the trainer hands each micro-batch's gradient (divided by k) to FloraCompressedAccumulation and steps it at
/// the scheduled lr, including an epoch's short last group (against the same computation driven by hand from
/// the trainer's own gradients), a stopped run resumes bit for bit from `save DIR state`, the packs and counter
/// round-trip, and the combinations the reference script cannot run are refused before training.
final class FloraAccumulationTrainerTests: XCTestCase {
  var folder: URL!
  var dataset: CaptionDataset!

  override func setUpWithError() throws {
    folder = try TrainerFixtures.temporaryFolder(name.filter { $0.isLetter })
    dataset = try CaptionDataset(at: try TrainerFixtures.makeDataset(in: folder))
  }

  override func tearDown() { try? FileManager.default.removeItem(at: folder) }

  /// LoRA rank 8 on the reference script's targets: the 7x7 patch conv's lora_A [8, 3, 7, 7] can be projected (8 >= 7).
  func makeTrainer(
    loraRank: Int = 8, _ edit: (inout TrainerSettings) -> Void
  ) throws -> (Trainer, LoRAAdapters) {
    let (model, tokenizer) = try TrainerFixtures.model()
    let adapters = LoRAAdapters(model: model)
    var config = LoRAConfig()
    config.rank = loraRank
    config.alpha = Float(loraRank)
    config.seed = 3
    try adapters.add(LoRAAdapter(name: "t", config: config, model: model))
    var s = TrainerSettings()
    s.prompt = TrainerFixtures.prompt
    s.seed = 5
    s.epochs = 1
    s.learningRate = 1e-2
    s.schedule = .onecycle
    s.optimizer = .flora
    edit(&s)
    do {
      let trainer = try Trainer(
        model: model, tokenizer: tokenizer, dataset: dataset, adapter: adapters.active!, settings: s)
      return (trainer, adapters)
    } catch {
      try adapters.drop("t")  // the tiny model is shared by the tests: leave it unwrapped
      throw error
    }
  }

  func weights(_ t: Trainer) -> [[Float]] {
    t.parameters.groups.map { Array(UnsafeBufferPointer(start: $0.values, count: $0.count)) }
  }

  /// Bit-for-bit equality, reported per tensor (the arrays are too long to print whole).
  func assertSameWeights(_ a: Trainer, _ b: Trainer, file: StaticString = #filePath, line: UInt = #line) {
    let wa = weights(a), wb = weights(b)
    var differing: [String] = []
    for (i, g) in a.parameters.groups.enumerated() where wa[i] != wb[i] {
      let worst = zip(wa[i], wb[i]).map { abs($0 - $1) }.max() ?? 0
      differing.append("\(g.name) \(g.shape) max |diff| \(worst)")
    }
    XCTAssertTrue(
      differing.isEmpty, "\(differing.count) tensors differ: \(differing.prefix(6).joined(separator: "; "))",
      file: file, line: line)
  }

  /// k = 3 over 4 images: a group of 3 micro-batches, then the epoch's last one alone (synced there, as
  /// accelerate does). The reference runs the same micro-batches through a second trainer's gradient path
  /// (`microBatch`, dropout masks from the same (seed, micro-batch index)) and feeds an independent
  /// FloraCompressedAccumulation by hand. Equal bit for bit: the same float operations in the same order.
  /// A trainer that stepped per micro-batch, skipped the division by k, used another lr, or did not step the
  /// short group would differ; the uncompressed run must differ too (compression is really on).
  func testTrainerFeedsEachMicroBatchToTheCompressedAccumulation() throws {
    let k = 3, rank = 4
    let (compressed, a1) = try makeTrainer { s in
      s.accumulate = k
      s.accumulationRank = rank
    }
    XCTAssertNotNil(compressed.compressedAccumulation)
    XCTAssertTrue(compressed.compressedAccumulation!.compresses)
    XCTAssertEqual(try compressed.run(), .finished)
    XCTAssertEqual(compressed.step, 2)
    try a1.drop("t")  // one adapter on the shared tiny model at a time; the trainer keeps its tensors

    // The reference: plain Flora settings (its optimizer is never stepped), gradients by hand.
    let (reference, a2) = try makeTrainer { s in s.accumulate = k }
    XCTAssertNil(reference.compressedAccumulation)
    reference.parameters.adapter.setTraining(reference.settings.dropout)
    let accumulation = try FloraCompressedAccumulation(
      flora: try Flora(params: reference.parameters.groups), rank: rank, microBatches: k)
    let batches = EpochBatches(
      dataset: dataset, epoch: 0, seed: reference.settings.seed, batchSize: 1, tokenizer: reference.tokenizer,
      augmentation: reference.settings.augmentation, maxLength: reference.settings.maxLength)
    var losses: [Double] = []
    for (step, group) in [[0, 1, 2], [3]].enumerated() {
      var sum = 0.0
      for index in group {
        reference.batchInEpoch = index
        let batch = try XCTUnwrap(batches.next())
        sum += Double(try reference.microBatch(batch))
        reference.parameters.accumulateMicroBatch(dividedBy: k)
        accumulation.addMicroBatch()
      }
      try accumulation.step(lr: try reference.learningRate(atStep: step))
      losses.append(sum / Double(group.count))
    }
    reference.parameters.adapter.setTraining(false)
    try a2.drop("t")
    XCTAssertEqual(compressed.stepLosses, losses)
    assertSameWeights(compressed, reference)
    XCTAssertEqual(
      compressed.compressedAccumulation!.projectionSeeds, accumulation.projectionSeeds,
      "each step draws new projections")

    let (plain, a3) = try makeTrainer { s in s.accumulate = k }
    defer { try? a3.drop("t") }
    XCTAssertEqual(try plain.run(), .finished)
    XCTAssertNotEqual(weights(plain), weights(compressed), "compression must change the result (projection noise)")
  }

  /// accumulate=1: FloraAccelerator compresses nothing; the run is plain Flora's, bit for bit.
  func testOneMicroBatchTrainsAsPlainFlora() throws {
    let (withRank, a1) = try makeTrainer { s in s.accumulationRank = 4 }
    XCTAssertNil(withRank.compressedAccumulation)
    XCTAssertEqual(try withRank.run(isCancelled: { withRank.step >= 2 }), .stopped)
    try a1.drop("t")
    let (plain, a2) = try makeTrainer { _ in }
    defer { try? a2.drop("t") }
    XCTAssertEqual(try plain.run(isCancelled: { plain.step >= 2 }), .stopped)
    assertSameWeights(withRank, plain)
  }

  /// Stopped after 3 of 4 steps (2 epochs, k = 2, dropout, shuffling, caption dropout, OneCycle), saved with its
  /// state, resumed in "a new process": the same weights and losses as a run never stopped. Without the saved
  /// projection seeds the resumed run would project with seeds 0, 1, 2, ... again and differ.
  func testResumeFromSavedStateIsBitIdentical() throws {
    func configure(_ s: inout TrainerSettings) {
      s.epochs = 2
      s.accumulate = 2
      s.accumulationRank = 4
      s.seed = 11
      s.augmentation = CaptionAugmentation(shuffle: true, frozenParts: 0, dropout: 0.2)
    }
    let (straight, a1) = try makeTrainer(configure)
    XCTAssertEqual(try straight.run(), .finished)
    let expected = weights(straight)
    try a1.drop("t")

    let saved = folder.appendingPathComponent("saved")
    var seedsAtStop: [UInt64?] = []
    do {
      let (first, adapters) = try makeTrainer(configure)
      defer { try? adapters.drop("t") }
      XCTAssertEqual(try first.run(isCancelled: { first.step >= 3 }), .stopped)
      seedsAtStop = first.compressedAccumulation!.projectionSeeds
      try first.save(to: saved)
      try first.saveState(to: saved)
    }
    let initialSeeds = (0..<seedsAtStop.compactMap { $0 }.count).map(UInt64.init)
    XCTAssertNotEqual(seedsAtStop.compactMap { $0 }, initialSeeds, "3 steps advanced every seed")

    let (model, tokenizer) = try TrainerFixtures.model()
    let reloaded = try CaptionDataset(at: dataset.location)
    let adapters = LoRAAdapters(model: model)
    let (adapter, _) = try PEFTAdapterFile.load(from: saved.path, name: "back", model: model)
    try adapters.add(adapter)
    defer { try? adapters.drop("back") }
    let resumed = try Trainer(
      resumingFrom: saved, model: model, tokenizer: tokenizer, dataset: reloaded, adapter: adapter)
    XCTAssertEqual(resumed.settings.accumulationRank, 4)
    XCTAssertEqual(resumed.step, 3)
    XCTAssertEqual(resumed.compressedAccumulation?.projectionSeeds, seedsAtStop)
    XCTAssertEqual(try resumed.run(), .finished)
    XCTAssertEqual(resumed.stepLosses, straight.stepLosses)
    XCTAssertEqual(weights(resumed), expected, "resumed weights differ from the straight run")
  }

  /// Mid-accumulation state (one micro-batch packed of two) round-trips: packs, seeds and the counter.
  func testPacksSeedsAndCounterRoundTrip() throws {
    let shapes = [[4, 48], [40, 4], [36, 4, 1, 1], [40]]
    func pattern(_ count: Int, _ value: (Int) -> Float) -> [Float] { (0..<count).map(value) }
    let initial: [[Float]] = shapes.map { s in
      pattern(s.reduce(1, *)) { j in Float((j * 37) % 23) / 23 - 0.5 }
    }
    func gradient(_ i: Int, _ m: Int) -> [Float] {
      pattern(shapes[i].reduce(1, *)) { j in
        let code: Int = (j * 13 + m * 7 + i) % 17
        return Float(code) / 1700 - 0.005
      }
    }
    func make() throws -> (OptimTestParams, FloraCompressedAccumulation) {
      let tp = OptimTestParams(shapes: shapes, initial: initial)
      return (tp, try FloraCompressedAccumulation(flora: try Flora(params: tp.groups), rank: 3, microBatches: 2))
    }
    let (tpA, a) = try make()
    let (tpB, b) = try make()
    for m in 0..<3 {  // steps 1 (2 micro-batches) and the first micro-batch of step 2
      for i in shapes.indices { tpA.setGrad(i, gradient(i, m)) }
      try a.addMicroBatch(lr: 1e-2)
    }
    XCTAssertEqual(a.pendingMicroBatches, 1)
    try b.loadState(a.saveState())
    for i in shapes.indices { b.params[i].values.update(from: a.params[i].values, count: a.params[i].count) }
    XCTAssertEqual(b.pendingMicroBatches, 1)
    XCTAssertEqual(b.projectionSeeds, a.projectionSeeds)
    for (tp, acc) in [(tpA, a), (tpB, b)] {
      for i in shapes.indices { tp.setGrad(i, gradient(i, 3)) }
      XCTAssertTrue(try acc.addMicroBatch(lr: 1e-2))
    }
    for i in shapes.indices { XCTAssertEqual(tpA.value(i), tpB.value(i), "p\(i)") }
    // Another rank's state is refused, naming both.
    let tpC = OptimTestParams(shapes: shapes, initial: initial)
    let c = try FloraCompressedAccumulation(flora: try Flora(params: tpC.groups), rank: 2, microBatches: 2)
    XCTAssertThrowsError(try c.loadState(a.saveState())) { error in
      XCTAssertTrue("\(error)".contains("accumulation_rank 3.0"), "\(error)")
    }
  }

  /// An absurd lr makes the loss non-finite: training stops, and weights, Flora state, projection seeds and
  /// packs are those after the last step whose weights gave a finite loss (nothing pending), as recorded then.
  func testNonFiniteLossRestoresWeightsSeedsAndEmptyPacks() throws {
    let (t, adapters) = try makeTrainer { s in
      s.epochs = 20
      s.learningRate = 1e9
      s.schedule = .none
      s.accumulate = 2
      s.accumulationRank = 4
    }
    defer { try? adapters.drop("t") }
    let acc = try XCTUnwrap(t.compressedAccumulation)
    var recorded: [(weights: [[Float]], seeds: [UInt64?], state: OptimizerState)] = []
    t.onProgress = { _ in recorded.append((self.weights(t), acc.projectionSeeds, acc.saveState())) }
    let outcome = try t.run()
    guard case .diverged(let message) = outcome else { return XCTFail("expected divergence, got \(outcome)") }
    XCTAssertTrue(message.contains("NaN") || message.contains("infinite"), message)
    XCTAssertGreaterThan(t.step, 0, "diverges after some steps")
    XCTAssertEqual(acc.pendingMicroBatches, 0)
    XCTAssertEqual(weights(t), recorded[t.step - 1].weights)
    XCTAssertEqual(acc.projectionSeeds, recorded[t.step - 1].seeds)
    XCTAssertEqual(acc.saveState(), recorded[t.step - 1].state)
  }

  /// What the reference script cannot run is refused before training, saying why.
  func testSeedCrashesAreClearErrors() throws {
    XCTAssertThrowsError(
      try makeTrainer { s in
        s.optimizer = .adamw
        s.accumulate = 2
        s.accumulationRank = 4
      }
    ) { error in XCTAssertTrue("\(error)".contains("only with optimizer=flora"), "\(error)") }
    // r = 4 on the 7x7 patch conv: lora_A [4, 3, 7, 7] (the reference script's matmul raises).
    XCTAssertThrowsError(
      try makeTrainer(loraRank: 4) { s in
        s.accumulate = 2
        s.accumulationRank = 4
      }
    ) { error in
      XCTAssertTrue("\(error)".contains("vision_tower.convs.0.proj.lora_A.weight [4, 3, 7, 7]"), "\(error)")
      XCTAssertTrue("\(error)".contains("kernel"), "\(error)")
    }
    XCTAssertThrowsError(try makeTrainer { s in s.accumulationRank = 0 }) { error in
      XCTAssertTrue("\(error)".contains("accumulation_rank must be >= 1"), "\(error)")
    }
  }
}
