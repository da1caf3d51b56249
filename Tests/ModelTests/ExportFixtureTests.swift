// transformers 5.24 (+ bitsandbytes 0.50.2 on CPU) loaded the folders `save model` writes (merged with PEFT's
// seed_r4 adapter, and quantized to NF4) — scripts/fixtures/export.py, results in Tests/Fixtures/export. Here:
// its logits equal flr's in-memory model's, and flr still writes exactly the tensors (names, dtypes, shapes)
// transformers loaded.
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class ExportFixtureTests: XCTestCase {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/export").path
  let source = ModelFixtures.path("tiny-original-safetensors")

  func check() throws -> [String: Any] {
    let data = try XCTUnwrap(FileManager.default.contents(atPath: Self.root + "/transformers_check.json"))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  /// transformers' logits_nobias for `name` plus the fixture's final_logits_bias (flr's original-naming model
  /// has it; the native model transformers built has none), as LoRAFixtures.expectedLogits does.
  func transformersLogits(_ name: String) throws -> Tensor {
    let logits = try CheckpointSet.open(file: Self.root + "/transformers_logits.safetensors")
      .float32(name + "_logits_nobias").copy()
    let bias = try ModelFixtures.reference().float("final_logits_bias")
    for r in 0..<(logits.count / bias.count) {
      for j in 0..<bias.count { logits.data[r * bias.count + j] += bias.data[j] }
    }
    return logits
  }

  /// What flr writes now must be what transformers loaded: same names, dtypes and shapes.
  func assertHeader(_ file: String, equals recorded: Any?, _ what: String) throws {
    let entries = try XCTUnwrap(recorded as? [[Any]], what)
    let set = try CheckpointSet.open(file: file)
    XCTAssertEqual(set.names.sorted(), entries.map { $0[0] as? String ?? "" }, what)
    for e in entries {
      let name = e[0] as? String ?? ""
      let torchDType = ["F32": "F32", "U8": "U8"][set[name]?.dtype.rawValue ?? ""]
      XCTAssertEqual(torchDType, e[1] as? String, name)
      XCTAssertEqual(set[name]?.shape, e[2] as? [Int], name)
    }
  }

  func testTransformersLoadsTheMergedModelWithFlrsLogits() throws {
    let result = try check()
    let merged = try XCTUnwrap(result["merged"] as? [String: Any])
    let loading = try XCTUnwrap(merged["loading"] as? [String: [String]])
    XCTAssertEqual(loading["missing_keys"], [])
    XCTAssertEqual(loading["mismatched_keys"], [])
    XCTAssertEqual(loading["unexpected_keys"], [CheckpointNaming.finalLogitsBias])  // no native counterpart
    // transformers on flr's merged file vs PEFT on the unmerged adapter (both PyTorch fp32).
    XCTAssertLessThan(try XCTUnwrap(merged["max_rel_vs_peft_adapter"] as? Double), 1e-5)

    let model = try Florence2.load(folder: source)
    let adapters = LoRAAdapters(model: model)
    let (adapter, _) = try PEFTAdapterFile.load(from: LoRAFixtures.path("seed_r4/original"), name: "seed", model: model)
    try adapters.add(adapter)
    // fp32 on both sides, different kernels and a merged vs unmerged weight: 1e-5 relative.
    let mergedError = relativeError(try LoRAFixtures.logits(model), try transformersLogits("merged"))
    print("save model: transformers on flr's merged file vs flr: relative error \(mergedError)")
    XCTAssertLessThan(mergedError, 1e-5)

    let out = NSTemporaryDirectory() + "flr-export-fixture-\(UUID().uuidString)"
    addTeardownBlock { try? FileManager.default.removeItem(atPath: out) }
    try ModelExport.save(model, sourceFolder: source, to: out)
    try assertHeader(out + "/model.safetensors", equals: merged["header"], "merged")
  }

  func testTransformersWithBitsAndBytesLoadsTheQuantizedModelWithFlrsLogits() throws {
    let result = try check()
    let nf4 = try XCTUnwrap(result["nf4"] as? [String: Any])
    let loading = try XCTUnwrap(nf4["loading"] as? [String: [String]])
    XCTAssertEqual(loading["missing_keys"], [])
    XCTAssertEqual(loading["mismatched_keys"], [])
    let model = try Florence2.load(folder: source, quantize: .nf4)
    XCTAssertEqual(nf4["linear4bit"] as? Int, model.nf4Layers().count)  // every NF4 Linear became a Linear4bit
    // bitsandbytes dequantizes to fp32 (quant_state dtype float32) and computes in fp32 as flr does.
    let nf4Error = relativeError(try LoRAFixtures.logits(model), try transformersLogits("nf4"))
    print("save model quantized: transformers + bitsandbytes on flr's NF4 file vs flr: relative error \(nf4Error)")
    XCTAssertLessThan(nf4Error, 1e-5)

    let out = NSTemporaryDirectory() + "flr-export-fixture-\(UUID().uuidString)"
    addTeardownBlock { try? FileManager.default.removeItem(atPath: out) }
    try ModelExport.save(model, sourceFolder: source, to: out, quantized: true)
    try assertHeader(out + "/model.safetensors", equals: nf4["header"], "nf4")
  }
}
