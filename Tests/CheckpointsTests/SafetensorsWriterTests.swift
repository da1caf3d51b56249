import FlrCore
import Foundation
import XCTest

@testable import FlrCheckpoints

final class SafetensorsWriterTests: XCTestCase {
  func testRoundTripInEachDtypeWithMetadata() throws {
    let folder = try temporaryFolder(self)
    let a = Tensor(shape: [2, 3], values: [1, -2, 0.5, 3.25, 1024, -0.125])  // exact in fp16 and bf16
    let b = Tensor(shape: [], values: [7])
    let empty = Tensor(zeros: [0, 4])
    for dtype in [CheckpointDType.f32, .f16, .bf16] {
      let path = "\(folder)/out-\(dtype.rawValue).safetensors"
      try SafetensorsWriter.write(
        [("b", b), ("a.weight", a), ("empty", empty)], to: path, dtype: dtype, metadata: ["format": "pt", "by": "flr"])
      let (tensors, metadata) = try SafetensorsReader.read(path: path)
      XCTAssertEqual(metadata, ["format": "pt", "by": "flr"])
      XCTAssertEqual(tensors.map(\.name), ["a.weight", "b", "empty"])
      XCTAssertEqual(tensors.map(\.dtype), [dtype, dtype, dtype])
      XCTAssertEqual(try tensors[0].toFloat32().toArray(), a.toArray())
      XCTAssertEqual(try tensors[1].toFloat32().shape, [])
      XCTAssertEqual(try tensors[1].toFloat32().toArray(), [7])
      XCTAssertEqual(tensors[2].shape, [0, 4])
      // The header is padded so the data starts 8-byte aligned.
      let header = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))).prefix(8).reversed().reduce(0) {
        $0 << 8 | Int($1)
      }
      XCTAssertEqual(header % 8, 0)
    }
  }

  func testReplacesAtomicallyAndLeavesNoTemporaryFile() throws {
    let folder = try temporaryFolder(self)
    let path = "\(folder)/adapter.safetensors"
    try SafetensorsWriter.write([("x", Tensor(shape: [1], values: [1]))], to: path)
    try SafetensorsWriter.write([("x", Tensor(shape: [2], values: [2, 3]))], to: path)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["adapter.safetensors"])
    XCTAssertEqual(try SafetensorsReader.read(path: path).tensors[0].toFloat32().toArray(), [2, 3])
    let error = checkpointError { try SafetensorsWriter.write([("x", Tensor(zeros: [1]))], to: "\(folder)/no/such/f") }
    XCTAssertTrue(error?.message.contains("cannot write") ?? false)
    XCTAssertNotNil(
      checkpointError { try SafetensorsWriter.write([("x", Tensor(zeros: [1])), ("x", Tensor(zeros: [1]))], to: path) })
  }

  func testHalfPrecisionBitsMatchTorch() {
    // Exact bit equality with torch's .to(float16/bfloat16) (ties, subnormals, overflow); NaN only needs to
    // stay NaN, since torch's own scalar and vector paths give different NaN payloads.
    let (f32, f16, bf16) = Fixtures.rounding
    let values = f32.map { Float(bitPattern: $0) }
    var half = [UInt16](repeating: 0, count: values.count)
    var brain = [UInt16](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { v in
      SafetensorsWriter.encode(v.baseAddress!, count: v.count, as: .f16, into: &half)
      SafetensorsWriter.encode(v.baseAddress!, count: v.count, as: .bf16, into: &brain)
    }
    for i in values.indices {
      if values[i].isNaN {
        XCTAssertTrue(Float16(bitPattern: half[i]).isNaN)
        XCTAssertTrue(Float(bitPattern: UInt32(brain[i]) << 16).isNaN)
      } else {
        XCTAssertEqual(half[i], f16[i], "fp16 of \(values[i])")
        XCTAssertEqual(brain[i], bf16[i], "bf16 of \(values[i])")
      }
    }
  }

  func testBFloat16RoundsToNearestEven() {
    // 1 + 2^-8 lies halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even one (1).
    XCTAssertEqual(SafetensorsWriter.bfloat16Bits(1 + 0x1p-8), 0x3F80)
    // 1 + 3·2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
    XCTAssertEqual(SafetensorsWriter.bfloat16Bits(1 + 3 * 0x1p-8), 0x3F82)
    XCTAssertEqual(SafetensorsWriter.bfloat16Bits(1 + 0x1p-8 + 0x1p-20), 0x3F81)
    XCTAssertTrue(Float(bitPattern: UInt32(SafetensorsWriter.bfloat16Bits(.nan)) << 16).isNaN)
    XCTAssertEqual(SafetensorsWriter.bfloat16Bits(.infinity), 0x7F80)
  }
}
