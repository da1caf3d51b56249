// `save model`: the merged model written in the original naming loads back with the merged model's logits,
// the quantized one with the NF4 model's logits; folders are written as one unit (a refused or failed save
// leaves the old folder as it was).
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class ExportTests: XCTestCase {
  let source = ModelFixtures.path("tiny-original-safetensors")

  func temporaryFolder() throws -> String {
    let path = NSTemporaryDirectory() + "flr-export-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
  }

  /// The tiny model with PEFT's seed_r4 adapter (non-zero B, Linear and Conv2d targets) active.
  func modelWithAdapter() throws -> (Florence2, LoRAAdapters) {
    let model = try Florence2.load(folder: source)
    let adapters = LoRAAdapters(model: model)
    let (adapter, _) = try PEFTAdapterFile.load(
      from: LoRAFixtures.path("seed_r4/original"), name: "seed", model: model)
    try adapters.add(adapter)
    return (model, adapters)
  }

  func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    XCTAssertEqual(a.shape, b.shape)
    var m: Float = 0
    for i in 0..<min(a.count, b.count) { m = max(m, abs(a.data[i] - b.data[i])) }
    return m
  }

  func testMergedModelLoadsBackWithTheMergedLogits() throws {
    let (model, adapters) = try modelWithAdapter()
    let active = try LoRAFixtures.logits(model)
    let out = try temporaryFolder() + "/merged"
    let summary = try ModelExport.save(model, sourceFolder: source, to: out)
    XCTAssertEqual(summary.model.mergedModules, adapters.active?.layers.count)
    // Saving changes nothing resident: the adapter is still active and unmerged.
    XCTAssertTrue(adapters.active?.isAttached == true && adapters.merged == nil)
    XCTAssertEqual(maxAbsDiff(try LoRAFixtures.logits(model), active), 0)

    let reloaded = try Florence2.load(folder: out)
    let reloadedLogits = try LoRAFixtures.logits(reloaded)
    try adapters.merge(nil)
    // The file holds what `merge` leaves in memory (same GEMM on the same inputs): the weights are equal bit
    // for bit, so the logits are too.
    let merged = try LoRAFixtures.logits(model)
    XCTAssertEqual(maxAbsDiff(reloadedLogits, merged), 0)
    // Merged vs unmerged differ only by fp32 rounding of W + s·B·A; and both are PEFT's logits within the
    // tolerance of the LoRA parity tests (PEFT ran the same adapter on the same model in fp32).
    XCTAssertLessThan(relativeError(reloadedLogits, active), 1e-5)
    XCTAssertLessThan(
      relativeError(reloadedLogits, try LoRAFixtures.expectedLogits("seed_r4", naming: .original)), 1e-4)

    // An adapter already merged is not merged twice: saving now writes the same weights.
    let again = try temporaryFolder() + "/again"
    XCTAssertEqual(try ModelExport.save(model, sourceFolder: source, to: again).model.mergedModules, 0)
    XCTAssertEqual(maxAbsDiff(try LoRAFixtures.logits(try Florence2.load(folder: again)), merged), 0)
  }

  /// Names as the remote code's save_pretrained leaves them: microsoft's key set with the three tied aliases
  /// of `shared` left out; config.json byte for byte and the side files copied.
  func testFolderLayoutIsTheOriginalOne() throws {
    let model = try Florence2.load(folder: source)
    let out = try temporaryFolder() + "/base"
    try ModelExport.save(model, sourceFolder: source, to: out)
    let written = try CheckpointSet.open(file: out + "/model.safetensors")
    XCTAssertEqual(written.metadata["format"], "pt")
    XCTAssertTrue(written.tensors.values.allSatisfy { $0.dtype == .f32 })
    let microsoft = try CheckpointSet.open(folder: ModelFixtures.path("tiny-original-bin"))
    let aliases = Set(CheckpointNaming.tiedEmbeddingNames.dropFirst())
    XCTAssertEqual(Set(written.names), Set(microsoft.names).subtracting(aliases))
    for name in written.names where name != CheckpointNaming.temporalTable {
      XCTAssertEqual(written[name]?.shape, microsoft[name]?.shape, name)
      // The fixture's weights are exactly representable in fp16: the fp32 file holds the same values.
      XCTAssertEqual(try written.float32(name).toArray(), try microsoft.float32(name).toArray(), name)
    }
    let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
    XCTAssertEqual(files, ["config.json", "model.safetensors", "preprocessor_config.json", "tokenizer_config.json"])
    XCTAssertEqual(
      FileManager.default.contents(atPath: out + "/config.json"),
      FileManager.default.contents(atPath: source + "/config.json"))
  }

  func testQuantizedModelLoadsBackWithIdenticalCodesAndLogits() throws {
    let model = try Florence2.load(folder: source, quantize: .nf4)
    let expected = try LoRAFixtures.logits(model)
    let out = try temporaryFolder() + "/q"
    let summary = try ModelExport.save(model, sourceFolder: source, to: out, quantized: true)
    XCTAssertEqual(summary.model.quantizedLayers, model.nf4Layers().count)

    let file = try CheckpointSet.open(file: out + "/model.safetensors")
    let key = "language_model.model.encoder.layers.0.fc1.weight"
    XCTAssertEqual(file[key]?.dtype, .u8)
    for suffix in NF4Serialized.suffixes { XCTAssertNotNil(file[key + "." + suffix], suffix) }
    let config = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: XCTUnwrap(FileManager.default.contents(atPath: out + "/config.json")))
        as? [String: Any])
    let q = try XCTUnwrap(config["quantization_config"] as? [String: Any])
    XCTAssertEqual(q["quant_method"] as? String, "bitsandbytes")
    XCTAssertEqual(q["bnb_4bit_quant_type"] as? String, "nf4")
    XCTAssertEqual(q["bnb_4bit_use_double_quant"] as? Bool, true)
    XCTAssertEqual(q["load_in_4bit"] as? Bool, true)
    XCTAssertNotNil(config["vision_config"])  // the rest of the source config is still there

    let reloaded = try Florence2.load(folder: out)
    let a = model.nf4Layers(), b = reloaded.nf4Layers()
    XCTAssertEqual(a.map(\.path), b.map(\.path))
    for (x, y) in zip(a, b) {
      XCTAssertEqual(x.layer.quantized.packed, y.layer.quantized.packed, x.path)
      XCTAssertEqual(x.layer.quantized.absmaxCodes, y.layer.quantized.absmaxCodes, x.path)
      XCTAssertEqual(x.layer.quantized.absmaxScales, y.layer.quantized.absmaxScales, x.path)
      XCTAssertEqual(x.layer.quantized.absmaxOffset, y.layer.quantized.absmaxOffset, x.path)
    }
    // Same codes, same fp32 tensors elsewhere, same kernels: the same logits.
    XCTAssertEqual(maxAbsDiff(try LoRAFixtures.logits(reloaded), expected), 0)

    // Saved again without `quantized`, the NF4 weights are written dequantized and the quantization_config
    // dropped: a plain fp32 model computing the same function.
    let plain = try temporaryFolder() + "/plain"
    XCTAssertEqual(try ModelExport.save(reloaded, sourceFolder: out, to: plain).model.dequantizedLayers, a.count)
    let plainConfig = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: XCTUnwrap(FileManager.default.contents(atPath: plain + "/config.json")))
        as? [String: Any])
    XCTAssertNil(plainConfig["quantization_config"])
    let fp32 = try Florence2.load(folder: plain)
    XCTAssertTrue(fp32.nf4Layers().isEmpty)
    // fp32 Linear kernels instead of the NF4 ones over the same weight values: fp32 summation order only.
    XCTAssertLessThan(relativeError(try LoRAFixtures.logits(fp32), expected), 1e-5)
  }

  func testQuantizedSaveRefusesActiveAdapterAndUnquantizedModel() throws {
    let out = try temporaryFolder() + "/q"
    let plain = try Florence2.load(folder: source)
    XCTAssertThrowsError(try ModelExport.save(plain, sourceFolder: source, to: out, quantized: true)) {
      XCTAssertTrue("\($0)".contains("quantize=nf4"), "\($0)")
    }
    let model = try Florence2.load(folder: source, quantize: .nf4)
    let adapters = LoRAAdapters(model: model)
    var config = LoRAConfig()
    config.targets = .parse("q_proj")
    try adapters.add(try LoRAAdapter(name: "a", config: config, model: model))
    XCTAssertThrowsError(try ModelExport.save(model, sourceFolder: source, to: out, quantized: true)) {
      XCTAssertTrue("\($0)".contains("requantize"), "\($0)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    // Without `quantized` the same model saves: NF4 weights dequantized with the adapter folded in, fp32.
    var rng = SeededRNG(seed: 9)
    for layer in try XCTUnwrap(adapters.active).layers {
      for i in 0..<layer.lora.loraB.count { layer.lora.loraB.data[i] = 0.05 * rng.normal() }
    }
    let plainOut = try temporaryFolder() + "/plain"
    XCTAssertEqual(
      try ModelExport.save(model, sourceFolder: source, to: plainOut).model.mergedModules, adapters.active?.layers.count
    )
    // fp32 kernels on W_deq + s·B·A vs NF4 kernels plus the unmerged LoRA branch: fp32 rounding only.
    XCTAssertLessThan(
      relativeError(try LoRAFixtures.logits(try Florence2.load(folder: plainOut)), try LoRAFixtures.logits(model)),
      1e-5)
    try adapters.use(nil)  // the base alone saves
    XCTAssertNoThrow(try ModelExport.save(model, sourceFolder: source, to: out, quantized: true))
  }

  func testExistingFolderNeedsOverwriteAndIsReplacedWhole() throws {
    let parent = try temporaryFolder()
    let out = parent + "/m"
    let model = try Florence2.load(folder: source)
    try ModelExport.save(model, sourceFolder: source, to: out)
    try Data("old".utf8).write(to: URL(fileURLWithPath: out + "/stale.txt"))
    let before = FileManager.default.contents(atPath: out + "/model.safetensors")
    XCTAssertThrowsError(try ModelExport.save(model, sourceFolder: source, to: out)) {
      XCTAssertTrue("\($0)".contains("overwrite"), "\($0)")
    }
    XCTAssertEqual(FileManager.default.contents(atPath: out + "/model.safetensors"), before)
    XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/stale.txt"))
    try ModelExport.save(model, sourceFolder: source, to: out, overwrite: true)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/stale.txt"))
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent), ["m"])  // no temporary left
  }

  func testFailedBuildLeavesTheOldFolder() throws {
    let parent = try temporaryFolder()
    let out = parent + "/unit"
    try AtomicFolder.write(out, existing: .replace) { try Data("one".utf8).write(to: URL(fileURLWithPath: $0 + "/a")) }
    struct Crash: Error {}
    XCTAssertThrowsError(
      try AtomicFolder.write(out, existing: .replace) { folder in
        try Data("two".utf8).write(to: URL(fileURLWithPath: folder + "/a"))
        throw Crash()  // e.g. the disk filled up while writing the second file
      })
    XCTAssertEqual(FileManager.default.contents(atPath: out + "/a"), Data("one".utf8))
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent), ["unit"])
  }
}

extension Tensor {
  fileprivate func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
}
