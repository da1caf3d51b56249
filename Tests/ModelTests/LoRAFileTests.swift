// flr-written adapters read back identically in both namings; bad adapter folders give one clear error and
// leave the resident adapters as they were.
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class LoRAFileTests: XCTestCase {
  func temporaryFolder() throws -> String {
    let path = NSTemporaryDirectory() + "flr-lora-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
  }

  func randomAdapter(_ model: Florence2, targets: String = LoRAConfig().targets.description) throws -> LoRAAdapter {
    var config = LoRAConfig()
    config.rank = 4
    config.alpha = 8
    config.useRslora = true
    config.targets = .parse(targets)
    config.seed = 5
    let adapter = try LoRAAdapter(name: "mine", config: config, model: model)
    var rng = SeededRNG(seed: 11)
    for layer in adapter.layers {  // B non-zero so the round trip checks both halves
      for i in 0..<layer.lora.loraB.count { layer.lora.loraB.data[i] = 0.05 * rng.normal() }
    }
    return adapter
  }

  func testRoundTripBothNamings() throws {
    let model = try LoRAFixtures.model(.original)
    for targets in [LoRAConfig().targets.description, "re:.*(encoder|convs\\.\\d)\\.(layers\\.\\d\\.fc1|proj)"] {
      let adapter = try randomAdapter(model, targets: targets)
      for naming in ModuleNaming.allCases {
        let folder = try temporaryFolder()
        try PEFTAdapterFile.save(adapter, to: folder, naming: naming)
        let set = try CheckpointSet.open(file: folder + "/adapter_model.safetensors")
        XCTAssertEqual(set.metadata, ["format": "pt"])
        XCTAssertEqual(set.names.count, 2 * adapter.layers.count)
        if naming == .native {
          XCTAssertNotNil(set["base_model.model.model.vision_tower.convs.0.conv.lora_A.weight"])
        } else {
          XCTAssertNotNil(set["base_model.model.vision_tower.convs.0.proj.lora_B.weight"])
        }
        let config =
          try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: folder + "/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config.count, 19)
        let (back, detected) = try PEFTAdapterFile.load(from: folder, name: "back", model: model)
        XCTAssertEqual(detected, naming)
        XCTAssertEqual(back.modulePaths, adapter.modulePaths)
        for (a, b) in zip(adapter.layers, back.layers) {
          XCTAssertEqual(a.lora.loraA.shape, b.lora.loraA.shape)
          XCTAssertEqual(a.lora.loraA.toArray(), b.lora.loraA.toArray())
          XCTAssertEqual(a.lora.loraB.toArray(), b.lora.loraB.toArray())
          XCTAssertEqual(a.lora.scaling, b.lora.scaling)
        }
      }
    }
  }

  /// Writes Tests/Fixtures/lora/flr-written (an flr adapter + flr's logits with it) when FLR_WRITE_LORA_FIXTURE
  /// is set; scripts/fixtures/lora.py then loads it with PEFT and records the result in peft_check.json,
  /// which this test reads back when present.
  func testFlrWrittenAdapterForPEFT() throws {
    let out = LoRAFixtures.path("flr-written")
    if ProcessInfo.processInfo.environment["FLR_WRITE_LORA_FIXTURE"] != nil {
      let model = try LoRAFixtures.model(.native)
      let adapter = try randomAdapter(model)
      try PEFTAdapterFile.save(adapter, to: out + "/native", naming: .native)
      try PEFTAdapterFile.save(adapter, to: out + "/original", naming: .original)
      let adapters = LoRAAdapters(model: model)
      try adapters.add(adapter)
      let logits = try LoRAFixtures.logits(model)
      try SafetensorsWriter.write([("logits_nobias", logits)], to: out + "/flr_logits.safetensors")
    }
    guard let data = FileManager.default.contents(atPath: out + "/peft_check.json") else {
      throw XCTSkip("no peft_check.json yet (run scripts/fixtures/lora.py after writing the flr adapter)")
    }
    let results = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Double])
    XCTAssertEqual(Set(results.keys), ["native", "original"])
    for (naming, error) in results { XCTAssertLessThan(error, 1e-4, "PEFT on flr's \(naming) adapter") }
  }

  func testBadAdaptersAreRefusedClearly() throws {
    let model = try LoRAFixtures.model(.original)
    let adapters = LoRAAdapters(model: model)
    let good = try randomAdapter(model)
    try adapters.add(good)
    let source = try temporaryFolder()
    try PEFTAdapterFile.save(good, to: source, naming: .original)
    let tensors = try CheckpointSet.open(file: source + "/adapter_model.safetensors")
    let configText = String(
      decoding: try Data(contentsOf: URL(fileURLWithPath: source + "/adapter_config.json")), as: UTF8.self)

    func variant(
      config: String? = nil,
      tensors edit: (([(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)])? = nil,
      raw: [UInt8]? = nil
    ) throws -> String {
      let folder = try temporaryFolder()
      try (config ?? configText).write(toFile: folder + "/adapter_config.json", atomically: true, encoding: .utf8)
      if let raw {
        try Data(raw).write(to: URL(fileURLWithPath: folder + "/adapter_model.safetensors"))
      } else {
        var list = try tensors.names.map { (name: $0, tensor: try tensors.float32($0)) }
        if let edit { list = edit(list) }
        try SafetensorsWriter.write(list, to: folder + "/adapter_model.safetensors")
      }
      return folder
    }
    func expectError(_ folder: String, _ words: [String], file: StaticString = #filePath, line: UInt = #line) {
      XCTAssertThrowsError(try PEFTAdapterFile.load(from: folder, name: "bad", model: model), file: file, line: line) {
        error in
        for w in words { XCTAssertTrue("\(error)".contains(w), "missing '\(w)' in: \(error)", file: file, line: line) }
      }
    }
    let key = "base_model.model.language_model.model.encoder.layers.0.fc1.lora_A.weight"
    expectError(
      try variant(config: configText.replacingOccurrences(of: "\"use_dora\": false", with: "\"use_dora\": true")),
      ["DoRA"])
    expectError(try variant(config: configText.replacingOccurrences(of: "\"LORA\"", with: "\"IA3\"")), ["IA3"])
    expectError(try variant(config: "{not json"), ["adapter_config.json", "JSON"])
    expectError(
      try variant(config: configText.replacingOccurrences(of: "\"r\": 4", with: "\"r\": 8")), ["wrong shape", "r = 8"])
    expectError(
      try variant(tensors: {
        $0.map { $0.name == key ? (key.replacingOccurrences(of: "fc1", with: "fc9"), $0.tensor) : $0 }
      }),
      ["encoder.layers.0.fc9", "half a LoRA pair"])
    expectError(
      try variant(tensors: { $0.map { $0.name == key ? ($0.name, Tensor(zeros: [4, 7])) : $0 } }),
      ["wrong shape", "[4, 7]"])
    expectError(
      try variant(tensors: { list in
        list.map { item in
          guard item.name == key else { return item }
          let t = item.tensor.copy()
          t.data[3] = .nan
          return (item.name, t)
        }
      }), ["non-finite", "element 3"])
    expectError(try variant(raw: Array("garbage".utf8)), ["adapter_model.safetensors"])
    let empty = try temporaryFolder()
    expectError(empty, ["adapter_config.json"])
    // session state kept: the good adapter is still resident and active
    XCTAssertTrue(adapters.active === good)
    XCTAssertEqual(adapters.all.count, 1)
  }
}
