// Target matching as PEFT (SPEC §6.3): counts on base, both namings, regex, refused types, no match.
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class LoRAMatchingTests: XCTestCase {
  static let referenceTargets = TargetModules.parse("qkv,proj,k_proj,v_proj,q_proj,out_proj,fc1,fc2")

  /// SPEC §6.3's counts, measured with PEFT on the real base model: 196 modules (4 Conv2d + 192 Linear),
  /// 1,621,580 parameters at r=4; native naming 192 modules, 1,581,056. Maestro list: 91 modules.
  func testSeedTargetsOnBase() throws {
    let configURL = URL(fileURLWithPath: ModelFixtures.path("configs/base.json"))
    let config = try FlorenceConfig.load(configURL)
    let model = try Florence2.random(config: config)
    let original = try model.loraTargets(Self.referenceTargets)
    XCTAssertEqual(original.count, 196)
    XCTAssertEqual(original.filter { $0.typeName == "Conv2d" }.count, 4)
    var lora = LoRAConfig()
    lora.rank = 4
    let adapter = try LoRAAdapter(name: "seed", config: lora, model: model)
    XCTAssertEqual(adapter.parameterCount, 1_621_580)
    let native = try model.loraTargets(Self.referenceTargets, naming: .native)
    XCTAssertEqual(native.count, 192)
    let nativeParams = native.reduce(0) { n, e -> Int in
      guard case .linear(let slot) = e.kind else { return n }
      let l = slot.get()
      return n + 4 * (l.inFeatures + l.outFeatures)
    }
    XCTAssertEqual(nativeParams, 1_581_056)
    // Maestro list (lm_head included): SPEC §6.3's 91 modules, 1,929,928 parameters at r=8.
    let maestro = TargetModules.names(["q_proj", "o_proj", "k_proj", "v_proj", "linear", "Conv2d", "lm_head", "fc2"])
    let maestroModules = try model.loraTargets(maestro)
    XCTAssertEqual(maestroModules.count, 91)
    XCTAssertEqual(maestroModules.last?.path, "language_model.lm_head")
    var maestroConfig = LoRAConfig()
    maestroConfig.rank = 8
    maestroConfig.targets = maestro
    XCTAssertEqual(try LoRAAdapter(name: "maestro", config: maestroConfig, model: model).parameterCount, 1_929_928)
  }

  func testMatchingRules() throws {
    let model = try LoRAFixtures.model(.original)
    // suffix at a dot only: "proj" matches window_attn.fn.proj but "_proj" entries are separate names
    let proj = try model.loraTargets(.names(["proj"])).map(\.path)
    XCTAssertTrue(proj.contains("vision_tower.convs.0.proj"))
    XCTAssertTrue(proj.contains("vision_tower.blocks.0.0.spatial_block.window_attn.fn.proj"))
    XCTAssertFalse(proj.contains { $0.hasSuffix("q_proj") })
    // a full path is an entry too
    let one = try model.loraTargets(.names(["language_model.model.encoder.layers.1.fc2"]))
    XCTAssertEqual(one.map(\.path), ["language_model.model.encoder.layers.1.fc2"])
    // regex: full match only
    let re = try model.loraTargets(.parse("re:.*decoder\\.layers\\.\\d+\\.(self_attn|encoder_attn)\\.q_proj"))
    XCTAssertEqual(re.count, 4)  // 2 decoder layers x (self, cross)
    XCTAssertThrowsError(try model.loraTargets(.parse("re:decoder")))  // partial match is no match
    // native naming: convs are `conv`, so `proj` misses them
    let nativeProj = try model.loraTargets(.names(["proj"]), naming: .native)
    XCTAssertEqual(nativeProj.count, proj.count - 4)
    XCTAssertEqual(try model.loraTargets(.names(["conv"]), naming: .native).count, 4)
    // wrong types and no match
    for bad in ["norm", "fn", "dw", "shared"] {
      XCTAssertThrowsError(try model.loraTargets(.names([bad]))) { error in
        XCTAssertTrue("\(error)".contains("only Linear and Conv2d"), "\(bad): \(error)")
      }
    }
    XCTAssertThrowsError(try model.loraTargets(.names(["o_proj", "linear"]))) { error in
      XCTAssertTrue("\(error)".contains("match no module"), "\(error)")
    }
    XCTAssertThrowsError(try model.loraTargets(.parse("re:(")))  // invalid regex: an error, not a crash
  }

  /// Module-path renaming agrees with the loader's tensor renaming on every adaptable module.
  func testNamingRoundTrip() throws {
    let model = try LoRAFixtures.model(.original)
    for entry in model.namedModules() {
      guard case .other = entry.kind else {
        let native = try XCTUnwrap(ModuleNaming.nativePath(ofOriginal: entry.path), entry.path)
        XCTAssertEqual(ModuleNaming.originalPath(ofNative: native), entry.path)
        continue
      }
    }
  }

  /// rank_pattern / alpha_pattern: per module, first applicable key; the rest keep r and lora_alpha.
  func testPatterns() throws {
    var config = LoRAConfig()
    config.rank = 4
    config.alpha = 8
    config.targets = .names(["fc1", "fc2"])
    config.rankPattern = [("encoder\\.layers\\.0\\.fc1", 2), ("fc1", 3)]
    config.alphaPattern = [("fc2", 16)]
    let model = try LoRAFixtures.model(.original)
    let adapter = try LoRAAdapter(name: "p", config: config, model: model)
    for layer in adapter.layers {
      let p = layer.lora
      if p.path == "language_model.model.encoder.layers.0.fc1" {
        XCTAssertEqual(p.rank, 2)
      } else if p.path.hasSuffix("fc1") {
        XCTAssertEqual(p.rank, 3)
      } else {
        XCTAssertEqual(p.rank, 4)
      }
      XCTAssertEqual(p.alpha, p.path.hasSuffix("fc2") ? 16 : 8)
      XCTAssertEqual(p.scaling, p.alpha / Float(p.rank))
    }
  }

  /// PEFT's init: A ~ U(±1/√fan_in) (fan_in = in·k·k for the patch conv), gaussian std 1/r, B = 0.
  func testInitialization() throws {
    let model = try LoRAFixtures.model(.original)
    var config = LoRAConfig()
    config.rank = 4
    config.targets = .names(["proj"])
    let adapter = try LoRAAdapter(name: "d", config: config, model: model)
    for layer in adapter.layers {
      let a = layer.lora.loraA, bound = 1 / Float(a.count / a.shape[0]).squareRoot()
      let values = a.toArray()
      XCTAssertLessThanOrEqual(values.map(abs).max()!, bound)
      XCTAssertGreaterThan(values.map(abs).max()!, 0.5 * bound)
      XCTAssertEqual(layer.lora.loraB.toArray().filter { $0 != 0 }.count, 0)
    }
    config.initialization = .gaussian
    config.rank = 8
    config.targets = .names(["fc1"])
    let g = try LoRAAdapter(name: "g", config: config, model: model)
    let all = g.layers.flatMap { $0.lora.loraA.toArray() }
    let std = (all.map { $0 * $0 }.reduce(0, +) / Float(all.count)).squareRoot()
    XCTAssertEqual(std, 1 / 8, accuracy: 0.01)  // 4096+ draws: the sample std is within a few % of 1/r
    // same seed, same adapter
    let again = try LoRAAdapter(name: "g2", config: config, model: model)
    XCTAssertEqual(again.layers[0].lora.loraA.toArray(), g.layers[0].lora.loraA.toArray())
  }
}
