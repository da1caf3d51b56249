// Reads the optimizer fixtures (Tests/Fixtures/optim/*.safetensors) written by scripts/fixtures/optim.py:
// a minimal safetensors reader (8-byte header length, JSON header, raw little-endian data) for F32/F64/U8.

import Foundation
import XCTest

@testable import FlrTrain

struct OptimFixture {
  let tensors: [String: (dtype: String, shape: [Int], bytes: Data)]
  let metadata: [String: String]

  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/optim")

  init(_ file: String) throws {
    let data = try Data(contentsOf: OptimFixture.directory.appendingPathComponent(file))
    let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self).littleEndian) }
    let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
    var tensors: [String: (String, [Int], Data)] = [:]
    var metadata: [String: String] = [:]
    for (key, value) in header {
      let entry = value as! [String: Any]
      if key == "__metadata__" {
        metadata = entry as! [String: String]
        continue
      }
      let offsets = entry["data_offsets"] as! [Int]
      tensors[key] = (
        entry["dtype"] as! String, entry["shape"] as! [Int],
        data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
      )
    }
    self.tensors = tensors
    self.metadata = metadata
  }

  func floats(_ key: String) throws -> [Float] {
    let t = try XCTUnwrap(tensors[key], "fixture tensor \(key) missing")
    XCTAssertEqual(t.dtype, "F32", key)
    return t.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
  }

  func doubles(_ key: String) throws -> [Double] {
    let t = try XCTUnwrap(tensors[key], "fixture tensor \(key) missing")
    XCTAssertEqual(t.dtype, "F64", key)
    return t.bytes.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
  }

  func bytes(_ key: String) throws -> [UInt8] {
    let t = try XCTUnwrap(tensors[key], "fixture tensor \(key) missing")
    XCTAssertEqual(t.dtype, "U8", key)
    return [UInt8](t.bytes)
  }

  func shape(_ key: String) throws -> [Int] { try XCTUnwrap(tensors[key], "fixture tensor \(key) missing").shape }

  func json(_ key: String) throws -> [String: Any] {
    let s = try XCTUnwrap(metadata[key], "fixture metadata \(key) missing")
    return try JSONSerialization.jsonObject(with: Data(s.utf8)) as! [String: Any]
  }
}

/// Owns parameter and gradient memory for a test, exposed as ParamGroups.
final class OptimTestParams {
  var values: [UnsafeMutablePointer<Float>] = []
  var grads: [UnsafeMutablePointer<Float>] = []
  var groups: [ParamGroup] = []

  init(shapes: [[Int]], initial: [[Float]], names: [String]? = nil) {
    for (i, shape) in shapes.enumerated() {
      let n = shape.reduce(1, *)
      let v = UnsafeMutablePointer<Float>.allocate(capacity: n)
      v.initialize(from: initial[i], count: n)
      let g = UnsafeMutablePointer<Float>.allocate(capacity: n)
      g.initialize(repeating: 0, count: n)
      values.append(v)
      grads.append(g)
      groups.append(ParamGroup(name: names?[i] ?? "p\(i)", values: v, grads: g, shape: shape))
    }
  }

  deinit {
    for p in values + grads { p.deallocate() }
  }

  func setGrad(_ i: Int, _ g: [Float]) { grads[i].update(from: g, count: g.count) }
  func value(_ i: Int) -> [Float] { Array(UnsafeBufferPointer(start: values[i], count: groups[i].count)) }
}

/// max over elements of |a − b| / max(|b|, floorFraction · max|b|): relative error, where elements within
/// floorFraction of the tensor's largest magnitude are compared at that scale (a value crossing zero has no
/// meaningful relative error; its absolute error is what matters at the tensor's scale).
func maxRelativeError(_ a: [Float], _ b: [Float], floorFraction: Float = 0.01) -> Float {
  guard a.count == b.count else { return .infinity }
  let scale = b.reduce(0) { max($0, abs($1)) } * floorFraction
  var worst: Float = 0
  for i in a.indices {
    let d = abs(a[i] - b[i])
    if d == 0 { continue }
    worst = max(worst, d / max(abs(b[i]), scale))
  }
  return worst
}
