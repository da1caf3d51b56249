// LoRA on lm_head (the LM head tied to the shared embedding) against PEFT 0.21.2 (scripts/fixtures/lmhead.py):
// PEFT's adapters load and give PEFT's logits, A/B gradients equal torch autograd's, the decoding path uses the
// adapted head, merge and `save model` untie the head (embeddings unchanged), an NF4 model keeps an fp32 head
// under its LoRA, and flr's own adapter and merged model load in PEFT / transformers (peft_check.json).
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class LMHeadLoRATests: XCTestCase {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/lmhead")
  static func path(_ name: String) -> String { root.appendingPathComponent(name).path }
  static let cases = ["mixed_r4", "head_only_r2"]
  static let head = Florence2.lmHeadPath

  /// LoRAParityTests' bar: 1e-4 relative on the whole logits tensor (float32, another summation order).
  let tolerance: Float = 1e-4

  func reference(_ name: String) throws -> CheckpointSet {
    try CheckpointSet.open(file: Self.path(name + "/reference.safetensors"))
  }

  /// PEFT's logits (native model: no final_logits_bias); the original files carry final_logits_bias.
  func expectedLogits(_ name: String, naming: ModuleNaming) throws -> Tensor {
    let logits = try reference(name).float32("logits_nobias").copy()
    if naming == .original {
      let bias = try ModelFixtures.reference().float("final_logits_bias")
      let v = bias.count
      for r in 0..<(logits.count / v) { for j in 0..<v { logits.data[r * v + j] += bias.data[j] } }
    }
    return logits
  }

  func testPEFTAdaptersOnLMHeadGivePEFTLogits() throws {
    for naming in ModuleNaming.allCases {
      let model = try LoRAFixtures.model(naming)
      let adapters = LoRAAdapters(model: model)
      let base = try LoRAFixtures.logits(model)
      for name in Self.cases {
        // PEFT's file holds the save_embedding_layers copy of the head's base weight too: accepted, not used.
        let folder = Self.path("\(name)/\(naming.rawValue)")
        let keys = try CheckpointSet.open(file: folder + "/adapter_model.safetensors").names
        XCTAssertTrue(keys.contains { $0.hasSuffix("lm_head.base_layer.weight") }, name)
        let (adapter, detected) = try PEFTAdapterFile.load(from: folder, name: name, model: model)
        XCTAssertEqual(detected, naming)
        XCTAssertTrue(adapter.adaptsLMHead)
        let head = try XCTUnwrap(adapter.layers.first { $0.lora.path == Self.head })
        XCTAssertEqual(head.lora.loraB.shape, [model.languageModel.vocabSize, head.lora.rank])
        try adapters.add(adapter)
        XCTAssertTrue(model.languageModel.lmHead is LoRALinear)
        let want = try expectedLogits(name, naming: naming)
        let got = try LoRAFixtures.logits(model)
        let error = relativeError(got, want)
        XCTAssertLessThan(error, tolerance, "\(name) \(naming)")
        XCTAssertGreaterThan(relativeError(base, want), 5 * tolerance, "\(name): the adapter must matter")
        print("lm_head LoRA parity \(name) (\(naming.rawValue)): relative error \(error)")
      }
      try adapters.use(nil)
      XCTAssertTrue(model.languageModel.isTied)
      XCTAssertEqual(try LoRAFixtures.logits(model).toArray(), base.toArray())
    }
  }

  /// ensure_weight_tying makes PEFT adapt the tied embeddings as well: refused with the reason.
  func testEnsureWeightTyingIsRefused() throws {
    let model = try LoRAFixtures.model(.native)
    let source = Self.path("head_only_r2/native")
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-ewt-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      atPath: source + "/adapter_model.safetensors", toPath: folder + "/adapter_model.safetensors")
    var config = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/adapter_config.json")))
        as? [String: Any])
    config["ensure_weight_tying"] = true
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/adapter_config.json"))
    XCTAssertThrowsError(try PEFTAdapterFile.load(from: folder, name: "x", model: model)) { error in
      XCTAssertTrue("\(error)".contains("ensure_weight_tying"), "\(error)")
    }
  }

  /// Loss 1e-5 absolute; gradients 1e-3 relative to each tensor's largest entry (BackwardLoRATests' bar).
  func testGradientsEqualAutograd() throws {
    let pixels = try LoRAFixtures.pixels()
    let ref = try ModelFixtures.reference()
    for name in Self.cases {
      let want = try reference(name)
      let model = try LoRAFixtures.model(.native)  // no final_logits_bias: the fixture's loss is on logits_nobias
      let (adapter, _) = try PEFTAdapterFile.load(from: Self.path(name + "/native"), name: name, model: model)
      for layer in adapter.layers {
        XCTAssertEqual(layer.lora.loraB.toArray(), try want.float32(layer.lora.path + ".lora_B").toArray())
      }
      adapter.attach()
      adapter.setTraining(true)
      adapter.zeroGradients()
      let reach = GradientReach(lowestModulePath: adapter.lowestModule)
      if name == "head_only_r2" { XCTAssertEqual(reach, .decoder) }
      let step = try model.trainingStep(
        pixelValues: pixels, promptIds: try ref.ids("input_ids"), labels: try ref.ids("labels"),
        options: TrainingOptions(dropout: false, reach: reach))
      XCTAssertEqual(step.loss, try want.float32("loss").data[0], accuracy: 1e-5, name)
      var worst: Float = 0
      for layer in adapter.layers {
        for (tag, got) in [("A", layer.lora.gradA), ("B", layer.lora.gradB)] {
          let err = relativeError(got, try want.float32(layer.lora.path + ".grad_" + tag))
          worst = max(worst, err)
          XCTAssertLessThan(err, 1e-3, "\(name) \(layer.lora.path) grad \(tag)")
        }
      }
      let head = try XCTUnwrap(adapter.layers.first { $0.lora.path == Self.head })
      XCTAssertGreaterThan(head.lora.gradA.toArray().map(abs).max() ?? 0, 0)
      print("lm_head LoRA gradients \(name): worst relative error \(worst) over \(adapter.layers.count) modules")
    }
  }

  /// A LoRA on lm_head alone skips the decoder's backward: with dropout on (text dropout and LoRA dropout,
  /// seeded) its gradients equal those of the full backward path (reach .encoder), and no d encoder output is
  /// formed. Same products in the same order for A and B: 1e-6 relative.
  func testHeadOnlyShortcutEqualsFullBackward() throws {
    let model = try LoRAFixtures.model(.original)
    let ref = try ModelFixtures.reference()
    var config = LoRAConfig()
    config.targets = .names(["lm_head"])
    config.dropout = 0.3
    config.seed = 7
    var grads: [(Float, [Float], [Float], Bool)] = []
    for reach in [GradientReach.decoder, .encoder] {
      let adapter = try LoRAAdapter(name: "h", config: config, model: model)
      var rng = SeededRNG(seed: 8)
      let layer = adapter.layers[0]
      for i in 0..<layer.lora.loraB.count { layer.lora.loraB.data[i] = 0.05 * rng.normal() }
      adapter.attach()
      adapter.setTraining(true)
      adapter.zeroGradients()
      let step = try model.trainingStep(
        pixelValues: try LoRAFixtures.pixels(), promptIds: try ref.ids("input_ids"), labels: try ref.ids("labels"),
        options: TrainingOptions(dropout: true, visionDropout: false, reach: reach, seed: 3))
      grads.append((step.loss, layer.lora.gradA.toArray(), layer.lora.gradB.toArray(), step.encoderOutput == nil))
      adapter.setTraining(false)
      adapter.detach()
    }
    XCTAssertTrue(grads[0].3, "head only: no decoder backward")
    XCTAssertFalse(grads[1].3)
    XCTAssertEqual(grads[0].0, grads[1].0)
    for (a, b) in [(grads[0].1, grads[1].1), (grads[0].2, grads[1].2)] {
      XCTAssertGreaterThan(a.map(abs).max() ?? 0, 0)
      XCTAssertLessThan(
        relativeError(Tensor(shape: [a.count], values: a), Tensor(shape: [b.count], values: b)), 1e-6)
    }
  }

  /// Generation reads the head through decoderStep: with an lm_head LoRA the KV-cache steps still equal the
  /// full-sequence decoder (DecodingTests' 1e-5), and differ from the base model's.
  func testDecoderStepUsesAdaptedHead() throws {
    let model = try LoRAFixtures.model(.original)
    let ref = try ModelFixtures.reference()
    let encoderOutput = try ref.float("encoder_output")
    let ids = try ref.ids("decoder_input_ids")
    let baseFull = try model.decode(decoderInputIds: ids, encoderOutput: encoderOutput)
    let (adapter, _) = try PEFTAdapterFile.load(from: Self.path("head_only_r2/original"), name: "h", model: model)
    adapter.attach()
    let full = try model.decode(decoderInputIds: ids, encoderOutput: encoderOutput)
    XCTAssertGreaterThan(relativeError(full, baseFull), 1e-3)
    let t = ids[0].count, v = model.languageModel.vocabSize
    var state = model.prepareDecoding(encoderOutput: encoderOutput)
    for i in 0..<t {
      let logits = try model.decoderStep(tokens: [ids[0][i], ids[1][i]], state: &state)
      for b in 0..<2 {
        let got = Tensor(shape: [v], values: Array(UnsafeBufferPointer(start: logits.data + b * v, count: v)))
        let want = Tensor(
          shape: [v], values: Array(UnsafeBufferPointer(start: full.data + (b * t + i) * v, count: v)))
        XCTAssertLessThan(relativeError(got, want), 1e-5, "image \(b) position \(i)")
      }
    }
  }

  /// merge unties lm_head: same logits as the active adapter, embeddings bit for bit unchanged; unmerge ties it
  /// back. `save model` with the adapter active writes lm_head apart, says tie_word_embeddings false, and flr
  /// loads it back untied with the same logits.
  func testMergeAndSaveModelUntieTheHead() throws {
    let model = try LoRAFixtures.model(.original)
    let lm = model.languageModel
    let sharedBefore = lm.shared.toArray()
    let base = try LoRAFixtures.logits(model)
    let adapters = LoRAAdapters(model: model)
    let (adapter, _) = try PEFTAdapterFile.load(from: Self.path("mixed_r4/original"), name: "m", model: model)
    try adapters.add(adapter)
    let adapted = try LoRAFixtures.logits(model)

    // save model with the adapter active (the resident model unchanged)
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-lmhead-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let summary = try ModelExport.save(
      model, sourceFolder: ModelFixtures.path("tiny-original-safetensors"), to: folder + "/merged")
    XCTAssertTrue(summary.model.untiedHead)
    XCTAssertEqual(summary.model.mergedModules, adapter.layers.count)
    XCTAssertTrue(lm.lmHead is LoRALinear)
    let written = try CheckpointSet.open(file: folder + "/merged/model.safetensors")
    XCTAssertTrue(written.names.contains("language_model.lm_head.weight"))
    // tie_word_embeddings false unties embed_tokens too (in transformers and the remote code): written as well.
    for name in CheckpointNaming.tiedEmbeddingNames.dropLast() {
      XCTAssertEqual(try written.float32(name).toArray(), sharedBefore, name)
    }
    XCTAssertEqual(try written.float32(CheckpointNaming.shared).toArray(), sharedBefore)
    let config = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/merged/config.json")))
        as? [String: Any])
    XCTAssertEqual(config["tie_word_embeddings"] as? Bool, false)
    XCTAssertEqual((config["text_config"] as? [String: Any])?["tie_word_embeddings"] as? Bool, false)
    let reloaded = try Florence2.load(folder: folder + "/merged")
    XCTAssertFalse(reloaded.languageModel.isTied)
    XCTAssertEqual(reloaded.languageModel.shared.toArray(), sharedBefore)
    // Folding s·B·A into W rounds differently from adding the LoRA term: 1e-5 relative.
    XCTAssertLessThan(relativeError(try LoRAFixtures.logits(reloaded), adapted), 1e-5)
    // An untied model saves untied again (no adapter), and the base model saves tied as before.
    let again = try ModelExport.save(
      reloaded, sourceFolder: folder + "/merged", to: folder + "/again")
    XCTAssertTrue(again.model.untiedHead)
    try adapters.use(nil)
    let plain = try ModelExport.save(
      model, sourceFolder: ModelFixtures.path("tiny-original-safetensors"), to: folder + "/plain")
    XCTAssertFalse(plain.model.untiedHead)
    XCTAssertFalse(
      try CheckpointSet.open(file: folder + "/plain/model.safetensors").names.contains("language_model.lm_head.weight"))

    // in-memory merge
    try adapters.merge("m")
    XCTAssertFalse(lm.isTied)
    XCTAssertEqual(lm.shared.toArray(), sharedBefore)
    XCTAssertLessThan(relativeError(try LoRAFixtures.logits(model), adapted), 1e-5)
    // A second lm_head adapter on the merged (untied) head, used after unmerge, wraps the tied head again.
    var config2 = LoRAConfig()
    config2.targets = .names(["lm_head"])
    let second = try LoRAAdapter(name: "h2", config: config2, model: model)  // B = 0: no change
    try adapters.add(second)
    XCTAssertThrowsError(try adapters.unmerge()) { XCTAssertTrue("\($0)".contains("use none"), "\($0)") }
    try adapters.use(nil)
    try adapters.unmerge()
    XCTAssertTrue(lm.isTied)
    XCTAssertLessThan(relativeError(try LoRAFixtures.logits(model), base), 1e-6)
    try adapters.use("h2")
    XCTAssertTrue(lm.isTied)
    XCTAssertLessThan(relativeError(try LoRAFixtures.logits(model), base), 1e-6)
  }

  /// quantize=nf4 leaves lm_head fp32, and an lm_head LoRA on the quantized model computes what it computes on
  /// the model with every other Linear replaced by its dequantized weight (NF4ModelTests' twin; 1e-5), in the
  /// forward and in its gradients.
  func testLMHeadLoRAOnNF4Model() throws {
    let folder = ModelFixtures.path("tiny-original-safetensors")
    let quantized = try Florence2.load(folder: folder, quantize: .nf4)
    XCTAssertFalse(quantized.nf4Layers().contains { $0.path == Self.head })
    XCTAssertTrue(quantized.languageModel.isTied)
    let twin = try Florence2.load(folder: folder)
    let deq = Dictionary(uniqueKeysWithValues: quantized.nf4Layers().map { ($0.path, $0.layer.dequantizedWeight()) })
    for entry in twin.namedModules() {
      guard case .linear(let slot) = entry.kind, let w = deq[entry.path] else { continue }
      slot.get().weight.data.update(from: w.data, count: w.count)
    }
    let ref = try ModelFixtures.reference()
    var results: [(logits: Tensor, gradA: [Float], gradB: [Float], loss: Float)] = []
    for model in [quantized, twin] {
      let (adapter, _) = try PEFTAdapterFile.load(from: Self.path("mixed_r4/original"), name: "m", model: model)
      adapter.attach()
      let logits = try LoRAFixtures.logits(model)
      adapter.setTraining(true)
      adapter.zeroGradients()
      let step = try model.trainingStep(
        pixelValues: try LoRAFixtures.pixels(), promptIds: try ref.ids("input_ids"), labels: try ref.ids("labels"),
        options: TrainingOptions(dropout: false, reach: GradientReach(lowestModulePath: adapter.lowestModule)))
      let head = try XCTUnwrap(adapter.layers.first { $0.lora.path == Self.head })
      XCTAssertFalse((head as? LoRALinear)?.base is NF4LinearLayer)
      results.append((logits, head.lora.gradA.toArray(), head.lora.gradB.toArray(), step.loss))
    }
    XCTAssertLessThan(relativeError(results[0].logits, results[1].logits), 1e-5)
    XCTAssertEqual(results[0].loss, results[1].loss, accuracy: 1e-5)
    for (a, b, label) in [(results[0].gradA, results[1].gradA, "A"), (results[0].gradB, results[1].gradB, "B")] {
      let err = relativeError(Tensor(shape: [a.count], values: a), Tensor(shape: [b.count], values: b))
      XCTAssertLessThan(err, 1e-4, "lm_head grad \(label)")
    }
  }

  /// Writes Tests/Fixtures/lmhead/flr-written (an flr adapter on q_proj, fc2 and lm_head + flr's logits with it)
  /// when FLR_WRITE_LORA_FIXTURE is set; `scripts/fixtures/lmhead.py --check-flr` then loads it with PEFT, has
  /// flr save the merged model and transformers load that, and records the results in peft_check.json.
  func testFlrWrittenAdapterForPEFTAndTransformers() throws {
    let out = Self.path("flr-written")
    if ProcessInfo.processInfo.environment["FLR_WRITE_LORA_FIXTURE"] != nil {
      let model = try LoRAFixtures.model(.native)
      var config = LoRAConfig()
      config.rank = 4
      config.alpha = 8
      config.dropout = 0
      config.targets = .names(["q_proj", "fc2", "lm_head"])
      config.seed = 5
      let adapter = try LoRAAdapter(name: "flr", config: config, model: model)
      var rng = SeededRNG(seed: 6)
      for layer in adapter.layers {
        for i in 0..<layer.lora.loraB.count { layer.lora.loraB.data[i] = 0.05 * rng.normal() }
      }
      try PEFTAdapterFile.save(adapter, to: out + "/native", naming: .native)
      try PEFTAdapterFile.save(adapter, to: out + "/original", naming: .original)
      adapter.attach()
      try SafetensorsWriter.write(
        [("logits_nobias", try LoRAFixtures.logits(model))], to: out + "/flr_logits.safetensors")
    }
    guard FileManager.default.fileExists(atPath: out + "/native/adapter_config.json") else {
      throw XCTSkip("no flr-written adapter yet (run this test with FLR_WRITE_LORA_FIXTURE=1)")
    }
    // flr writes only lora_A / lora_B (no save_embedding_layers copy of the base head).
    for naming in ["native", "original"] {
      let keys = try CheckpointSet.open(file: out + "/\(naming)/adapter_model.safetensors").names
      XCTAssertFalse(keys.contains { $0.contains("base_layer") }, naming)
      XCTAssertTrue(keys.contains { $0.hasSuffix("lm_head.lora_B.weight") }, naming)
    }
    guard let data = FileManager.default.contents(atPath: out + "/peft_check.json") else {
      throw XCTSkip("no peft_check.json yet (run scripts/fixtures/lmhead.py --check-flr after writing the adapter)")
    }
    let results = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    for naming in ["native", "original"] {
      // PEFT's logits with flr's adapter: the parity bar.
      XCTAssertLessThan(try XCTUnwrap(results[naming] as? Double), 1e-4, "PEFT on flr's \(naming) adapter")
      XCTAssertEqual((results[naming + "_load_warnings"] as? [Any])?.count, 0, "PEFT warned on \(naming)")
    }
    let merged = try XCTUnwrap(results["merged_export"] as? [String: Any])
    XCTAssertEqual(merged["lm_head_tied_after_load"] as? Bool, false)
    XCTAssertLessThan(try XCTUnwrap(merged["max_rel_vs_flr_adapter"] as? Double), 1e-4)
  }
}
