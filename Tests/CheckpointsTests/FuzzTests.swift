// Random byte flips and truncations of valid small files: every reader must answer with a value or a
// CheckpointError, never crash or hang. Seeded, so a failure reproduces.

import Foundation
import XCTest

@testable import FlrCheckpoints

final class FuzzTests: XCTestCase {
  func mutate(_ good: [UInt8], _ rng: inout TestRNG) -> [UInt8] {
    var bytes = good
    if rng.below(4) == 0 {
      bytes = Array(bytes.prefix(rng.below(bytes.count)))
    } else {
      for _ in 0..<(1 + rng.below(4)) {
        let i = rng.below(bytes.count)
        // Bias towards the headers, where the lengths and offsets live.
        let at = rng.below(2) == 0 ? i % min(bytes.count, 256) : i
        bytes[at] = rng.below(3) == 0 ? 0xFF : UInt8(truncatingIfNeeded: rng.next())
      }
    }
    return bytes
  }

  func fuzz(_ fixture: String, seed: UInt64, iterations: Int, read: (String) throws -> Int) throws {
    let good = Fixtures.bytes(fixture)
    let folder = try temporaryFolder(self)
    var rng = TestRNG(state: seed)
    var refused = 0
    let start = Date()
    for i in 0..<iterations {
      let path = "\(folder)/\(i)-\(fixture.split(separator: "/").last!)"
      try write(mutate(good, &rng), to: path)
      do { _ = try read(path) } catch is CheckpointError { refused += 1 }
      try FileManager.default.removeItem(atPath: path)
    }
    XCTAssertGreaterThan(refused, iterations / 4, "most damage should be detected")
    XCTAssertLessThan(Date().timeIntervalSince(start), 30)
  }

  /// Reads every tensor's values, so views into damaged data are touched too.
  func readAll(_ set: CheckpointSet) throws -> Int {
    var total = 0
    for name in set.names where set[name]!.dtype.isConvertibleToFloat32 { total += try set.float32(name).count }
    return total
  }

  func testSafetensorsReader() throws {
    try fuzz("model.safetensors", seed: 1, iterations: 1000) { try readAll(CheckpointSet.open(file: $0)) }
  }

  func testTorchReader() throws {
    try fuzz("model.bin", seed: 2, iterations: 1000) { try readAll(CheckpointSet.open(file: $0)) }
    try fuzz("zip64.bin", seed: 3, iterations: 300) { try readAll(CheckpointSet.open(file: $0)) }
  }

  func testUnpickler() throws {
    let zip = try ZipArchive(MappedFile(path: Fixtures.path("model.bin")))
    let good = Array(try zip.data("model/data.pkl"))
    var rng = TestRNG(state: 4)
    let storage = PickleValue.storage(
      TorchStorage(key: "0", dtype: .f32, elementCount: 0, bytes: UnsafeRawBufferPointer(start: nil, count: 0)))
    for _ in 0..<2000 {
      var u = RestrictedUnpickler(bytes: mutate(good, &rng), context: "fuzz") { _ in storage }
      _ = try? u.load()
    }
  }
}
