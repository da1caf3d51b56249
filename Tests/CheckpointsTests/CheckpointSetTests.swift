import Foundation
import XCTest

@testable import FlrCheckpoints

final class CheckpointSetTests: XCTestCase {
  func link(_ fixture: String, into folder: String, as name: String) throws {
    try FileManager.default.createSymbolicLink(atPath: "\(folder)/\(name)", withDestinationPath: Fixtures.path(fixture))
  }

  func testPrefersSafetensorsOverTorchBin() throws {
    let folder = try temporaryFolder(self)
    try link("model.bin", into: folder, as: "pytorch_model.bin")
    XCTAssertEqual(try CheckpointSet.open(folder: folder).format, .pytorch)
    try link("model.safetensors", into: folder, as: "model.safetensors")
    let set = try CheckpointSet.open(folder: folder)
    XCTAssertEqual(set.format, .safetensors)
    XCTAssertEqual(set.files, ["\(folder)/model.safetensors"])
    XCTAssertEqual(set.metadata, ["format": "pt"])
  }

  func testTorchBinFolderMatchesTheReference() throws {
    let folder = try temporaryFolder(self)
    try link("model.bin", into: folder, as: "pytorch_model.bin")
    let set = try CheckpointSet.open(folder: folder)
    XCTAssertEqual(set.names.count, Fixtures.expected.count)
    for name in set.names { try assertMatchesExpected(set[name]!) }
  }

  func testShardedSafetensors() throws {
    let set = try CheckpointSet.open(folder: Fixtures.path("sharded"))
    XCTAssertEqual(set.format, .shardedSafetensors)
    XCTAssertEqual(set.files.count, 3)
    XCTAssertEqual(Set(set.names), Set(Fixtures.expected.keys))
    for name in set.names { try assertMatchesExpected(set[name]!) }
  }

  func testShardedTorchBinAndDuplicateNames() throws {
    let folder = try temporaryFolder(self)
    try link("model.bin", into: folder, as: "pytorch_model-00001-of-00002.bin")
    try link("model.bin", into: folder, as: "pytorch_model-00002-of-00002.bin")
    let index = "\(folder)/pytorch_model.bin.index.json"
    try #"{"weight_map": {"proj.bias": "pytorch_model-00001-of-00002.bin"}}"#
      .write(toFile: index, atomically: true, encoding: .utf8)
    let set = try CheckpointSet.open(folder: folder)
    XCTAssertEqual(set.format, .shardedPytorch)
    XCTAssertEqual(Set(set.names), Set(Fixtures.expected.keys))
    for name in set.names { try assertMatchesExpected(set[name]!) }
    // The same tensor name in two shards is an error, not a silent choice.
    try FileManager.default.removeItem(atPath: index)
    try #"{"weight_map": {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"}}"#
      .write(toFile: index, atomically: true, encoding: .utf8)
    let error = checkpointError { _ = try CheckpointSet.open(folder: folder) }
    XCTAssertTrue(error?.message.contains("is also in") ?? false, "\(String(describing: error))")
  }

  func testShardIndexProblems() throws {
    let folder = try temporaryFolder(self)
    let fm = FileManager.default
    for f in try fm.contentsOfDirectory(atPath: Fixtures.path("sharded")) where f.hasSuffix(".safetensors") {
      try link("sharded/\(f)", into: folder, as: f)
    }
    let index = "\(folder)/model.safetensors.index.json"
    let cases: [(String, String)] = [
      (#"{"weight_map": {"ghost": "model-00001-of-00002.safetensors"}}"#, "not in the shard weight_map names: ghost"),
      (#"{"weight_map": {"a": "../../etc/passwd"}}"#, "invalid shard file name"),
      (#"{"weight_map": {"a": "model-00009-of-00009.safetensors"}}"#, "cannot open"),
      (#"{"metadata": {}}"#, "no \"weight_map\""),
      (#"{"weight_map": "#, "invalid JSON"),
    ]
    for (text, words) in cases {
      try? fm.removeItem(atPath: index)
      try text.write(toFile: index, atomically: true, encoding: .utf8)
      let error = checkpointError { _ = try CheckpointSet.open(folder: folder) }
      XCTAssertTrue(error?.description.contains(words) ?? false, "\(words): \(String(describing: error))")
    }
  }

  func testFolderWithoutWeights() throws {
    let folder = try temporaryFolder(self)
    let error = checkpointError { _ = try CheckpointSet.open(folder: folder) }
    XCTAssertEqual(error?.file, folder)
    XCTAssertTrue(error?.message.contains("model.safetensors") ?? false)
    XCTAssertTrue(checkpointError { _ = try CheckpointSet.open(folder: "\(folder)/nope") }?.message == "no such folder")
    XCTAssertNotNil(checkpointError { _ = try CheckpointSet.open(folder: folder).float32("x") })
  }
}
