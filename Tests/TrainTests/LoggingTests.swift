// Training logs: CRC-32C and TFRecord framing against tensorboard's own code, event bytes equal to tensorboard's
// RecordWriter + protobuf serializer, a flr-written file read by tensorboard's EventFileLoader, JSONL lines.
import FlrImage
import Foundation
import XCTest

@testable import FlrTrain

final class LoggingTests: XCTestCase {
  func testCRC32CMatchesTensorBoard() throws {
    let cases = try XCTUnwrap(try DataFixtures.json("crc32c.json")["cases"] as? [[String: Any]])
    for c in cases {
      let hex = try XCTUnwrap(c["hex"] as? String)
      let bytes = stride(from: 0, to: hex.count, by: 2).map {
        UInt8(hex[hex.index(hex.startIndex, offsetBy: $0)..<hex.index(hex.startIndex, offsetBy: $0 + 2)], radix: 16)!
      }
      XCTAssertEqual(CRC32C.checksum(bytes), (c["crc32c"] as? NSNumber)?.uint32Value, hex)
      XCTAssertEqual(CRC32C.masked(bytes), (c["masked"] as? NSNumber)?.uint32Value, hex)
    }
    XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)  // the CRC-32C check value (RFC 3720)
  }

  func testScalarEventsEqualTensorBoardBytes() throws {
    let scalars = try XCTUnwrap(try DataFixtures.json("events.json")["scalars"] as? [[String: Any]])
    var bytes: [UInt8] = []
    for s in scalars {
      let event = EventProtobuf.scalars(
        wallTime: try DataFixtures.double(s["wall_time"]), step: try XCTUnwrap((s["step"] as? NSNumber)?.int64Value),
        values: [(try XCTUnwrap(s["tag"] as? String), Float(try DataFixtures.double(s["value"])))])
      bytes += TensorBoardLog.record(event)
    }
    XCTAssertEqual(bytes, try DataFixtures.bytes("scalars.tfevents"))
  }

  /// The training records written through TensorBoardLog, as the trainer will.
  func writeTrainingEvents(to folder: URL) throws -> URL {
    let fixture = try DataFixtures.json("events.json")
    let log = try TensorBoardLog(folder: folder, wallTime: try DataFixtures.double(fixture["file_wall_time"]))
    for r in try XCTUnwrap(fixture["training"] as? [[String: Any]]) {
      try log.write(
        TrainingRecord(
          step: try XCTUnwrap(r["step"] as? Int), epoch: try DataFixtures.double(r["epoch"]),
          loss: try DataFixtures.double(r["loss"]), lr: try DataFixtures.double(r["lr"]),
          time: try DataFixtures.double(r["time"])))
    }
    log.close()
    return log.file
  }

  func testTrainingLogEqualsTensorBoardBytes() throws {
    let t = try TempFolder()
    let file = try writeTrainingEvents(to: t.url.appendingPathComponent("logs"))
    XCTAssertTrue(file.lastPathComponent.hasPrefix("events.out.tfevents.1764000000."), file.lastPathComponent)
    XCTAssertEqual(Array(try Data(contentsOf: file)), try DataFixtures.bytes("training.tfevents"))
  }

  /// FLR_WRITE_DATA_FIXTURES=1: writes Tests/Fixtures/data/flr_written.tfevents for scripts/fixtures/data.py to read.
  func testWriteFlrFixture() throws {
    guard ProcessInfo.processInfo.environment["FLR_WRITE_DATA_FIXTURES"] == "1" else { return }
    let t = try TempFolder()
    let file = try writeTrainingEvents(to: t.url)
    let target = DataFixtures.folder.appendingPathComponent("flr_written.tfevents")
    try? FileManager.default.removeItem(at: target)
    try FileManager.default.copyItem(at: file, to: target)
  }

  func testTensorBoardReadsFlrFile() throws {
    let read = try DataFixtures.json("flr_read.json")
    let committed = try DataFixtures.bytes("flr_written.tfevents")
    // What EventFileLoader read is this exact file, and TensorBoardLog still writes it byte for byte.
    XCTAssertEqual(read["sha256"] as? String, SHA256.hex(committed))
    let t = try TempFolder()
    XCTAssertEqual(Array(try Data(contentsOf: try writeTrainingEvents(to: t.url))), committed)
    // And it read back every record: file_version first, then loss, lr, epoch per step as float32.
    let events = try XCTUnwrap(read["events"] as? [[String: Any]])
    let fixture = try DataFixtures.json("events.json")
    let training = try XCTUnwrap(fixture["training"] as? [[String: Any]])
    XCTAssertEqual(events.count, 1 + 3 * training.count)
    XCTAssertEqual(events.first?["file_version"] as? String, "brain.Event:2")
    XCTAssertEqual(
      try DataFixtures.double(events.first?["wall_time"]), try DataFixtures.double(fixture["file_wall_time"]))
    for (i, r) in training.enumerated() {
      for (j, tag) in ["loss", "lr", "epoch"].enumerated() {
        let e = events[1 + 3 * i + j]
        XCTAssertEqual(e["step"] as? Int, r["step"] as? Int)
        XCTAssertEqual(try DataFixtures.double(e["wall_time"]), try DataFixtures.double(r["time"]))
        let value = try XCTUnwrap((e["values"] as? [[String: Any]])?.first)
        XCTAssertEqual(value["tag"] as? String, tag)
        // simple_value is float32: what flr stored is the Double rounded to Float, read back exactly.
        XCTAssertEqual(value["plugin"] as? String, "scalars")
        XCTAssertEqual(Float(try DataFixtures.double(value["value"])), Float(try DataFixtures.double(r[tag])))
      }
    }
  }

  func testJSONLLines() throws {
    let t = try TempFolder()
    let file = t.url.appendingPathComponent("run/log.jsonl")
    let log = try JSONLLog(file: file)
    try log.write(TrainingRecord(step: 1, epoch: 0.25, loss: 3.8125, lr: 4e-06, time: 1_764_000_001.5))
    // Written through already (no close needed to read it).
    XCTAssertEqual(
      try String(contentsOf: file, encoding: .utf8),
      "{\"step\":1,\"epoch\":0.25,\"loss\":3.8125,\"lr\":4e-06,\"time\":1764000001.5}\n")
    try log.write(TrainingRecord(step: 2, epoch: 1, loss: .nan, lr: 0.0001, time: 1_764_000_002))
    log.close()
    let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(lines.count, 2)
    let second = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
    XCTAssertTrue(second["loss"] is NSNull)
    XCTAssertEqual((second["lr"] as? NSNumber)?.doubleValue, 0.0001)
    XCTAssertEqual((second["epoch"] as? NSNumber)?.doubleValue, 1)
    // Appends to an existing log.
    let more = try JSONLLog(file: file)
    try more.write(TrainingRecord(step: 3, epoch: 1, loss: 1, lr: 1, time: 1))
    XCTAssertEqual(try String(contentsOf: file, encoding: .utf8).split(separator: "\n").count, 3)
  }

  /// Prodigy's d*lr rides on the step line; a validation is a line of its own. TensorBoard gets one event each.
  func testExtraScalarsAndValidationLines() throws {
    let t = try TempFolder()
    let file = t.url.appendingPathComponent("log.jsonl")
    let log = try JSONLLog(file: file)
    var record = TrainingRecord(step: 4, epoch: 1, loss: 2.5, lr: 1, time: 10)
    record.scalars = [TrainingScalar("lr/d*lr-group0", 0.000125), TrainingScalar("lr/d*lr-group1", 0.5)]
    try log.write(record)
    try log.write(scalars: [TrainingScalar("loss/val", 3.25)], step: 4, epoch: 1, time: 11)
    log.close()
    XCTAssertEqual(
      try String(contentsOf: file, encoding: .utf8),
      "{\"step\":4,\"epoch\":1,\"loss\":2.5,\"lr\":1,\"lr/d*lr-group0\":0.000125,\"lr/d*lr-group1\":0.5,\"time\":10}\n"
        + "{\"step\":4,\"epoch\":1,\"loss/val\":3.25,\"time\":11}\n")
    let board = try TensorBoardLog(folder: t.url, wallTime: 1)
    try board.write(record)
    try board.write(scalars: [TrainingScalar("loss/val", 3.25)], step: 4, epoch: 1, time: 11)
    board.close()
    var expected = TensorBoardLog.record(EventProtobuf.fileVersion(wallTime: 1))
    for (tag, value, time) in [
      ("loss", 2.5, 10.0), ("lr", 1, 10), ("epoch", 1, 10), ("lr/d*lr-group0", 0.000125, 10),
      ("lr/d*lr-group1", 0.5, 10), ("loss/val", 3.25, 11),
    ] {
      expected += TensorBoardLog.record(
        EventProtobuf.scalars(wallTime: time, step: 4, values: [(tag, Float(value))]))
    }
    XCTAssertEqual(Array(try Data(contentsOf: board.file)), expected)
  }

  func testUnwritableFolderIsAClearError() throws {
    let t = try TempFolder()
    let blocker = try t.text("file", "not a folder")
    XCTAssertThrowsError(try JSONLLog(file: blocker.appendingPathComponent("log.jsonl"))) {
      XCTAssertTrue("\($0)".hasPrefix(blocker.path + ": cannot create folder"), "\($0)")
    }
    XCTAssertThrowsError(try TensorBoardLog(folder: blocker)) { XCTAssertTrue("\($0)".contains(blocker.path), "\($0)") }
  }
}
