import FlrCore
import Foundation
import XCTest

@testable import FlrCheckpoints

final class TorchCheckpointTests: XCTestCase {
  func testReadsTorchSaveExactly() throws {
    for fixture in ["model.bin", "zip64.bin"] {
      let tensors = try TorchCheckpoint.read(path: Fixtures.path(fixture))
      XCTAssertEqual(Set(tensors.map(\.name)), Set(Fixtures.expected.keys), fixture)
      for t in tensors {
        XCTAssertEqual(t.dtype.rawValue, Fixtures.expected[t.name]!.dtype, t.name)
        try assertMatchesExpected(t)
      }
    }
  }

  func testSharedStoragesStayShared() throws {
    let tensors = Dictionary(
      uniqueKeysWithValues: try TorchCheckpoint.read(path: Fixtures.path("model.bin")).map { ($0.name, $0) })
    let shared = try XCTUnwrap(tensors["shared.weight"])
    XCTAssertTrue(shared.sharesBytes(with: tensors["lm_head.weight"]!))
    XCTAssertTrue(shared.sharesBytes(with: tensors["encoder_embed.weight"]!))
    // A contiguous slice points into the same storage, 6 floats in.
    XCTAssertEqual(tensors["views.rows"]!.bytes.baseAddress, tensors["views.base"]!.bytes.baseAddress! + 6 * 4)
    // fp32 storages are 64-byte aligned in torch's zip, so their fp32 tensors are views of the mapping.
    XCTAssertEqual(
      UnsafeRawPointer(try tensors["views.rows"]!.toFloat32().data), tensors["views.rows"]!.bytes.baseAddress)
    // Strided views are gathered into their own memory.
    XCTAssertFalse(tensors["views.transposed"]!.sharesBytes(with: tensors["views.base"]!))
  }

  func testCheckpointSetConvertsTiedWeightsOnce() throws {
    let set = try CheckpointSet.open(file: Fixtures.path("model.bin"))
    let shared = try set.float32("shared.weight")
    let head = try set.float32("lm_head.weight")
    XCTAssertEqual(shared.data, head.data)
    XCTAssertNotEqual(shared.data, try set.float32("proj.weight").data)
  }

  func expectError(_ fixture: String, _ words: [String], file: StaticString = #filePath, line: UInt = #line) {
    let error = checkpointError({ _ = try TorchCheckpoint.read(path: Fixtures.path(fixture)) }, file: file, line: line)
    XCTAssertTrue(error?.file.hasPrefix(Fixtures.path(fixture)) ?? false, file: file, line: line)
    for w in words {
      XCTAssertTrue(
        error?.message.contains(w) ?? false, "'\(w)' not in \(String(describing: error))", file: file, line: line)
    }
  }

  func testMaliciousPicklesAreRefusedAndNothingRuns() throws {
    try? FileManager.default.removeItem(atPath: Fixtures.pwnedPath)
    expectError("malicious_system.bin", ["refused global 'posix.system'", "nothing in the file was run"])
    expectError("malicious_eval.bin", ["refused global 'builtins.eval'"])
    XCTAssertFalse(FileManager.default.fileExists(atPath: Fixtures.pwnedPath))
    let error = checkpointError { _ = try CheckpointSet.open(file: Fixtures.path("malicious_system.bin")) }
    XCTAssertNotNil(error)
  }

  func testBrokenArchivesGiveOneClearError() throws {
    expectError("missing_storage.bin", ["zip entry 'model/data/0' is missing"])
    expectError("bad_opcode.bin", ["unsupported pickle opcode 0x94"])
    let folder = try temporaryFolder(self)
    let good = Fixtures.bytes("model.bin")
    for (name, bytes, words) in [
      ("truncated.bin", Array(good.prefix(good.count / 2)), "no end-of-central-directory"),
      ("legacy.bin", [0x80, 0x02, 0x8A, 0x0A] + Array(good.prefix(100)), "not a torch zip checkpoint"),
      ("empty.bin", [], "not a torch zip checkpoint"),
    ] {
      try write(bytes, to: "\(folder)/\(name)")
      let error = checkpointError { _ = try TorchCheckpoint.read(path: "\(folder)/\(name)") }
      XCTAssertTrue(error?.message.contains(words) ?? false, "\(name): \(String(describing: error))")
    }
    let missing = checkpointError { _ = try TorchCheckpoint.read(path: "\(folder)/absent.bin") }
    XCTAssertTrue(missing?.message.contains("cannot open") ?? false)
  }

  func testStorageShorterThanDeclaredIsRefused() throws {
    // Shrink `model/data/0`'s recorded size in the central directory: the pickle's numel no longer fits.
    var bytes = Fixtures.bytes("model.bin")
    let file = try MappedFile(path: Fixtures.path("model.bin"))
    let zip = try ZipArchive(file)
    let entry = try XCTUnwrap(zip.entry("model/data/0"))
    let name = Array("model/data/0".utf8)
    var p = try XCTUnwrap(findCentralEntry(bytes, name))
    p += 20
    for k in 0..<2 {  // compressed and uncompressed sizes
      let smaller = UInt32(entry.size - 2)
      for i in 0..<4 { bytes[p + 4 * k + i] = UInt8(truncatingIfNeeded: smaller >> (8 * UInt32(i))) }
    }
    let path = "\(try temporaryFolder(self))/short.bin"
    try write(bytes, to: path)
    let error = checkpointError { _ = try TorchCheckpoint.read(path: path) }
    XCTAssertTrue(error?.message.contains("its storage needs") ?? false, "\(String(describing: error))")
  }

  func findCentralEntry(_ bytes: [UInt8], _ name: [UInt8]) -> Int? {
    let signature: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
    for p in 0..<(bytes.count - 46 - name.count) where Array(bytes[p..<(p + 4)]) == signature {
      if Array(bytes[(p + 46)..<(p + 46 + name.count)]) == name { return p }
    }
    return nil
  }
}
