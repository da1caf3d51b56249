import FlrCore
import XCTest

@testable import FlrCheckpoints

final class SafetensorsReaderTests: XCTestCase {
  func testReadsTheLibrarysFileExactly() throws {
    let (tensors, metadata) = try SafetensorsReader.read(path: Fixtures.path("model.safetensors"))
    XCTAssertEqual(metadata, ["format": "pt"])
    let floats = tensors.filter { $0.dtype.isConvertibleToFloat32 }
    XCTAssertEqual(Set(floats.map(\.name)), Set(Fixtures.expected.keys))
    for t in floats {
      XCTAssertEqual(t.dtype.rawValue, Fixtures.expected[t.name]!.dtype, t.name)
      try assertMatchesExpected(t)
    }
  }

  func testKnownButUnconvertedDtypeIsRefusedAtConversion() throws {
    let (tensors, _) = try SafetensorsReader.read(path: Fixtures.path("model.safetensors"))
    let ids = try XCTUnwrap(tensors.first { $0.name == "ids.int64" })
    XCTAssertEqual(ids.dtype, .i64)
    XCTAssertEqual(ids.shape, [4])
    let error = checkpointError { _ = try ids.toFloat32() }
    XCTAssertTrue(error?.description.contains("'ids.int64' has dtype I64") ?? false, "\(String(describing: error))")
  }

  func testFloat32IsAViewOfTheMapping() throws {
    let (tensors, _) = try SafetensorsReader.read(path: Fixtures.path("model.safetensors"))
    let base = try XCTUnwrap(tensors.first { $0.name == "views.base" })
    let tensor = try base.toFloat32()
    XCTAssertEqual(UnsafeRawPointer(tensor.data), base.bytes.baseAddress)
    // Writable without touching the file (private mapping).
    tensor.data[0] = 42
    let again = try SafetensorsReader.read(path: Fixtures.path("model.safetensors")).tensors.first {
      $0.name == "views.base"
    }
    XCTAssertEqual(try again?.toFloat32().toArray(), Fixtures.expected["views.base"]!.values)
  }

  // Hand-made files for each way a header can be wrong.
  func makeFile(header: String, data: Int, padTo: Int? = nil) -> [UInt8] {
    var h = Array(header.utf8)
    if let padTo { while h.count < padTo { h.append(0x20) } }
    var out: [UInt8] = []
    withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
    return out + h + [UInt8](repeating: 7, count: data)
  }

  func expectInvalid(_ bytes: [UInt8], _ words: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let path = "\(try temporaryFolder(self))/bad.safetensors"
    try write(bytes, to: path)
    let error = checkpointError({ _ = try SafetensorsReader.read(path: path) }, file: file, line: line)
    XCTAssertEqual(error?.file, path, file: file, line: line)
    XCTAssertTrue(error?.message.contains(words) ?? false, "\(String(describing: error))", file: file, line: line)
  }

  func testBadFilesGiveOneClearError() throws {
    let good = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
    XCTAssertNoThrow(
      try {
        let path = "\(try temporaryFolder(self))/good.safetensors"
        try write(makeFile(header: good, data: 8), to: path)
        _ = try SafetensorsReader.read(path: path)
      }())
    try expectInvalid([1, 2, 3], "too short")
    try expectInvalid(Array(makeFile(header: good, data: 8).prefix(20)), "runs past the end of the file")
    try expectInvalid(Array(makeFile(header: good, data: 8).dropLast(3)), "the data area holds 5 bytes")
    try expectInvalid(
      makeFile(header: #"{"a":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}}"#, data: 8),
      "unknown dtype 'F17'")
    try expectInvalid(
      makeFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}"#, data: 8),
      "run past the end of the file")
    try expectInvalid(
      makeFile(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8),
      "= 12 bytes but data_offsets [0, 8] hold 8")
    try expectInvalid(
      makeFile(
        header:
          #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[6,10]}}"#,
        data: 10), "overlaps tensor 'a'")
    try expectInvalid(
      makeFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8), "gap of 4 bytes")
    try expectInvalid(
      makeFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#, data: 8),
      "not valid JSON")
    try expectInvalid(makeFile(header: #"{"__metadata__":{"format":1}}"#, data: 0), "not a string")
    try expectInvalid(
      makeFile(header: #"{"__metadata__":null,"a":{"dtype":"F32","shape":[2]}}"#, data: 8),
      "no [begin, end] data_offsets")
    try expectInvalid(
      makeFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}"#, data: 8),
      "no [begin, end] data_offsets")
    try expectInvalid(
      makeFile(header: #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: 8),
      "negative dimension")
    try expectInvalid(
      makeFile(header: #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: 8),
      "overflows")
    try expectInvalid(makeFile(header: String(repeating: "[", count: 5000), data: 0), "start with '{'")
    try expectInvalid(makeFile(header: "{\"a\":" + String(repeating: "[", count: 5000), data: 0), "nested deeper")
  }

  func testHeaderPaddingAndMetadataAreAccepted() throws {
    let path = "\(try temporaryFolder(self))/padded.safetensors"
    try write(
      makeFile(
        header: #"{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}"#,
        data: 8, padTo: 96), to: path)
    let (tensors, metadata) = try SafetensorsReader.read(path: path)
    XCTAssertEqual(metadata, ["format": "pt"])
    XCTAssertEqual(tensors.map(\.shape), [[2, 2]])
    // bf16 0x0707 -> fp32 bits 0x07070000.
    XCTAssertEqual(try tensors[0].toFloat32().toArray(), [Float](repeating: Float(bitPattern: 0x0707_0000), count: 4))
  }
}
