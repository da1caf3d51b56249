import FlrCore
import FlrModel
import Foundation
import XCTest

@testable import FlrShell

/// `save DIR dtype=bf16|fp16`: the file holds the adapter in that dtype (read from the safetensors header
/// directly, as PEFT's loader sees it), each weight rounded to nearest even, and `load adapter=` gives those
/// values back. Also `lora init=false` (PEFT's init_lora_weights=False), whose B is not zero, so both factors
/// exercise the rounding.
final class AdapterDTypeSaveTests: XCTestCase {
  /// bf16 by round-to-nearest-even on the bit pattern (finite values), as torch's `.to(torch.bfloat16)`.
  static func bfloat16(_ x: Float) -> Float {
    let bits = x.bitPattern
    return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
  }

  /// The safetensors header's dtype of every tensor, parsed from the file's bytes.
  static func headerDTypes(_ path: String) throws -> [String: String] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let length = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let header = try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
    var dtypes: [String: String] = [:]
    for (name, entry) in header where name != "__metadata__" {
      dtypes[name] = (entry as? [String: Any])?["dtype"] as? String
    }
    return dtypes
  }

  func testHalfPrecisionSavesRoundToNearestEvenAndLoadBack() throws {
    let fixture = try TrainingShellFixture(name: "dtype-save")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let shell = TestSession()
    try shell.run("load \(fixture.model.path)\nlora mine rank=4 seed=3 init=false")
    let adapter = try XCTUnwrap(shell.session.model?.adapters["mine"])
    let original = adapter.layers.map { ($0.lora.loraA.toArray(), $0.lora.loraB.toArray()) }
    try shell.run("save \(out)/fp32\nsave \(out)/bf16 dtype=bf16\nsave \(out)/fp16 dtype=fp16")
    XCTAssertTrue(shell.errText.contains("original names, bf16)"), shell.errText)

    let rounding: [(String, String, (Float) -> Float)] = [
      ("fp32", "F32", { $0 }), ("bf16", "BF16", Self.bfloat16), ("fp16", "F16", { Float(Float16($0)) }),
    ]
    for (folder, dtype, round) in rounding {
      let dtypes = try Self.headerDTypes("\(out)/\(folder)/adapter_model.safetensors")
      XCTAssertEqual(dtypes.count, 2 * adapter.layers.count, folder)
      XCTAssertEqual(Set(dtypes.values), [dtype], folder)
      try shell.run("load adapter=\(out)/\(folder) name=\(folder)")
      let loaded = try XCTUnwrap(shell.session.model?.adapters[folder])
      var changed = 0
      for (layer, (a, b)) in zip(loaded.layers, original) {
        XCTAssertEqual(layer.lora.loraA.toArray(), a.map(round), "\(folder) \(layer.lora.path) A")
        XCTAssertEqual(layer.lora.loraB.toArray(), b.map(round), "\(folder) \(layer.lora.path) B")
        changed += zip(layer.lora.loraA.toArray(), a).filter { $0 != $1 }.count
      }
      if folder != "fp32" { XCTAssertGreaterThan(changed, 0, "\(folder) rounds some weights") }
    }

    XCTAssertThrowsError(try shell.run("save \(out)/bad dtype=bf16 state")) {
      XCTAssertTrue(describeError($0).contains("needs fp32 weights"), describeError($0))
    }
    XCTAssertThrowsError(try shell.run("save model \(out)/model dtype=fp16")) {
      XCTAssertTrue(describeError($0).contains("dtype=fp16 applies to adapters"), describeError($0))
    }
  }

  func testInitFalseInitialisesBothFactorsAndIsWritten() throws {
    let fixture = try TrainingShellFixture(name: "init-false")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let shell = TestSession()
    try shell.run("load \(fixture.model.path)\nlora plain rank=4 seed=3\nlora random rank=4 seed=3 init=false")
    let plain = try XCTUnwrap(shell.session.model?.adapters["plain"])
    let random = try XCTUnwrap(shell.session.model?.adapters["random"])
    for (p, r) in zip(plain.layers, random.layers) {
      XCTAssertEqual(Set(p.lora.loraB.toArray()), [0])
      let fanIn = r.lora.loraA.count / r.lora.loraA.shape[0]
      XCTAssertLessThanOrEqual(r.lora.loraA.toArray().map(abs).max() ?? 1, 1 / Float(fanIn).squareRoot())
      let b = r.lora.loraB.toArray()
      XCTAssertLessThanOrEqual(b.map(abs).max() ?? 1, 1 / Float(4).squareRoot())
      XCTAssertGreaterThan(Set(b).count, b.count / 2, "\(r.lora.path): B is drawn, not zero")
    }
    try shell.run("save random \(out)/random")
    let config = try String(contentsOfFile: "\(out)/random/adapter_config.json", encoding: .utf8)
    XCTAssertTrue(config.contains("\"init_lora_weights\": false"), config)
    try shell.run("load adapter=\(out)/random name=back")
    XCTAssertEqual(shell.session.model?.adapters["back"]?.config.initialization, .layerDefault)
  }
}
