// ModuleRecord: what building the model records is PEFT's named_modules() view with every tensor key, and a
// slot puts a layer where the model reads it.
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class ModuleRecordTests: XCTestCase {
  /// Every tensor of the checkpoint is a slot's weight or bias or one of the recorded tensors, and nothing else.
  func testRecordCoversEveryCheckpointKey() throws {
    let folder = ModelFixtures.path("tiny-original-safetensors")
    let model = try Florence2.load(folder: folder)
    let set = try CheckpointSet.open(folder: folder)
    let expected = Set(try CheckpointNaming.canonicalSources(set.tensors, config: model.config, file: folder).keys)
    var recorded = Set(model.modules.tensors.map(\.key))
    XCTAssertEqual(recorded.count, model.modules.tensors.count, "a key recorded twice")
    for entry in model.namedModules() {
      switch entry.kind {
      case .linear(let slot):
        guard entry.path != Florence2.lmHeadPath else { continue }  // tied: it reads `shared`
        recorded.insert(entry.path + ".weight")
        if slot.get().bias != nil { recorded.insert(entry.path + ".bias") }
      case .conv2d:
        recorded.formUnion([entry.path + ".weight", entry.path + ".bias"])
      case .other:
        break
      }
    }
    XCTAssertEqual(recorded.subtracting(expected), [])
    XCTAssertEqual(expected.subtracting(recorded), [])
  }

  /// named_modules() order: each path once, every parent listed before its children.
  func testParentsBeforeChildren() throws {
    let model = try LoRAFixtures.model(.original)
    var seen = Set<String>()
    for entry in model.namedModules() {
      XCTAssertFalse(seen.contains(entry.path), "\(entry.path) listed twice")
      if let dot = entry.path.lastIndex(of: ".") {
        let parent = String(entry.path[..<dot])
        XCTAssertTrue(seen.contains(parent), "\(entry.path) before its parent")
      }
      seen.insert(entry.path)
    }
    let block = model.namedModules().map(\.path).filter { $0.hasPrefix("vision_tower.blocks.0.0.spatial_block.") }
    XCTAssertEqual(
      Array(block.prefix(9).map { String($0.dropFirst("vision_tower.blocks.0.0.spatial_block.".count)) }),
      [
        "conv1", "conv1.fn", "conv1.fn.dw", "window_attn", "window_attn.norm", "window_attn.fn", "window_attn.fn.qkv",
        "window_attn.fn.proj", "window_attn.fn.softmax",
      ])
  }

  /// Setting a slot replaces the layer the module computes with; putting the old one back restores the output
  /// bit for bit.
  func testSlotPutsTheLayerWhereTheModelReadsIt() throws {
    let model = try LoRAFixtures.model(.original)
    let pixels = try LoRAFixtures.pixels()
    let before = try model.imageFeatures(pixelValues: pixels)
    let entry = try XCTUnwrap(
      model.namedModules().first { $0.path == "vision_tower.blocks.1.0.channel_block.channel_attn.fn.proj" })
    guard case .linear(let slot) = entry.kind else { return XCTFail("not a Linear slot") }
    let original = slot.get()
    let zero = LinearLayer(
      weight: Tensor(zeros: original.weight.shape), bias: original.bias.map { Tensor(zeros: $0.shape) },
      in: original.inFeatures, out: original.outFeatures)
    slot.set(zero)
    XCTAssertTrue(slot.get() === zero)
    XCTAssertNotEqual(try model.imageFeatures(pixelValues: pixels).toArray(), before.toArray())
    slot.set(original)
    XCTAssertEqual(try model.imageFeatures(pixelValues: pixels).toArray(), before.toArray())

    guard case .linear(let head) = model.namedModules().last?.kind else { return XCTFail("lm_head is last") }
    let lm = model.languageModel
    head.set(LinearLayer(weight: Tensor(zeros: [lm.vocabSize, lm.dim]), bias: nil, in: lm.dim, out: lm.vocabSize))
    let hidden = Tensor(zeros: [3, lm.dim])
    hidden.fill(1)
    let logits = lm.logits(hidden)
    for r in 0..<3 {
      XCTAssertEqual(
        Array(logits.toArray()[(r * lm.vocabSize)..<((r + 1) * lm.vocabSize)]), lm.finalLogitsBias.toArray())
    }
  }
}
