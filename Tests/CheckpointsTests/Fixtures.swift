// Shared helpers: fixture paths, the generator's expected values, temporary folders, a seeded RNG.

import Foundation
import XCTest

@testable import FlrCheckpoints

enum Fixtures {
  /// Tests/Fixtures/checkpoints, written by scripts/fixtures/checkpoints.py.
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/checkpoints").path

  static func path(_ name: String) -> String { "\(folder)/\(name)" }

  struct Expected {
    let dtype: String
    let shape: [Int]
    let values: [Float]
  }

  /// expected.json: every float tensor of the reference state dict, values as fp32 (exact).
  static let expected: [String: Expected] = {
    let data = try! Data(contentsOf: URL(fileURLWithPath: path("expected.json")))
    let root = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    var out: [String: Expected] = [:]
    for (name, entry) in root["float"] as! [String: [String: Any]] {
      out[name] = Expected(
        dtype: entry["dtype"] as! String, shape: entry["shape"] as! [Int],
        values: (entry["values"] as! [Double]).map { Float($0) })
    }
    return out
  }()

  /// fp32 bit patterns and the fp16/bf16 bits torch's `.to()` gives for them.
  static let rounding: (f32: [UInt32], f16: [UInt16], bf16: [UInt16]) = {
    let data = try! Data(contentsOf: URL(fileURLWithPath: path("expected.json")))
    let r = (try! JSONSerialization.jsonObject(with: data) as! [String: Any])["rounding"] as! [String: [Int]]
    return (
      r["f32_bits"]!.map { UInt32(truncatingIfNeeded: $0) }, r["f16_bits"]!.map { UInt16(truncatingIfNeeded: $0) },
      r["bf16_bits"]!.map { UInt16(truncatingIfNeeded: $0) }
    )
  }()

  static let pwnedPath: String = {
    let data = try! Data(contentsOf: URL(fileURLWithPath: path("expected.json")))
    return (try! JSONSerialization.jsonObject(with: data) as! [String: Any])["pwned_path"] as! String
  }()

  static func bytes(_ name: String) -> [UInt8] {
    [UInt8](try! Data(contentsOf: URL(fileURLWithPath: path(name))))
  }
}

/// A fresh temporary folder, removed when the test ends.
func temporaryFolder(_ test: XCTestCase) throws -> String {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("flr-ckpt-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
  return url.path
}

/// Plain open/write/close (Foundation's Data.write fsyncs, which makes the fuzz loops I/O bound).
func write(_ bytes: [UInt8], to path: String) throws {
  guard let f = fopen(path, "wb") else { throw CocoaError(.fileWriteUnknown) }
  defer { fclose(f) }
  guard fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw CocoaError(.fileWriteUnknown) }
}

/// The error a call throws, as a CheckpointError (fails the test when it does not throw one).
func checkpointError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> CheckpointError?
{
  do {
    try body()
    XCTFail("expected a CheckpointError", file: file, line: line)
  } catch let error as CheckpointError {
    return error
  } catch {
    XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
  }
  return nil
}

/// splitmix64: the fuzz loops are reproducible.
struct TestRNG {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Checks a checkpoint tensor against the generator's values: exact, since fp16/bf16 -> fp32 is exact.
func assertMatchesExpected(_ tensor: CheckpointTensor, file: StaticString = #filePath, line: UInt = #line) throws {
  guard let expected = Fixtures.expected[tensor.name] else {
    XCTFail("unexpected tensor \(tensor.name)", file: file, line: line)
    return
  }
  XCTAssertEqual(tensor.shape, expected.shape, tensor.name, file: file, line: line)
  let values = try tensor.toFloat32()
  XCTAssertEqual(values.shape, expected.shape, tensor.name, file: file, line: line)
  XCTAssertEqual(values.toArray(), expected.values, tensor.name, file: file, line: line)
}
