// `log=tensorboard`: an event file `events.out.tfevents.<10-digit unix time>.<host>.<pid>.<n>` (the name
// tensorboard's EventFileWriter gives; the loader only needs "tfevents" in it) in TFRecord framing:
//   uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
// Record 0 is the file_version event ("brain.Event:2"); then one event per scalar (`loss`, `lr`, `epoch`, and
// `lr/d*lr-groupN` for Prodigy, `loss/val` for validations), as accelerate's TensorBoard tracker writes (one
// add_scalar per value, simple_value, no plugin metadata).
// scripts/fixtures/data.py proves the bytes equal tensorboard's own RecordWriter + protobuf serializer and that
// tensorboard's EventFileLoader reads a file written here.
import Foundation

public final class TensorBoardLog: TrainingLog {
  private let output: AppendOnlyFile
  public var file: URL { output.url }

  nonisolated(unsafe) private static var filesOpened = 0
  private static let counterLock = NSLock()

  /// Creates a new event file in `folder` (made if missing). `wallTime` stamps the file_version record.
  public init(folder: URL, wallTime: Double = Date().timeIntervalSince1970) throws {
    let n = Self.counterLock.withLock {
      defer { Self.filesOpened += 1 }
      return Self.filesOpened
    }
    let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
    let stamp = String(format: "%010d", Int(wallTime))
    let name = "events.out.tfevents.\(stamp).\(host).\(ProcessInfo.processInfo.processIdentifier).\(n)"
    output = try AppendOnlyFile(creating: folder.appendingPathComponent(name))
    try output.write(Self.record(EventProtobuf.fileVersion(wallTime: wallTime)))
  }

  /// Writes `loss`, `lr`, `epoch` and the record's other scalars at `record.step`, stamped with `record.time`.
  public func write(_ r: TrainingRecord) throws {
    for (tag, value) in [("loss", r.loss), ("lr", r.lr), ("epoch", r.epoch)] {
      try scalar(tag, Float(value), step: Int64(r.step), wallTime: r.time)
    }
    try write(scalars: r.scalars, step: r.step, epoch: r.epoch, time: r.time)
  }

  /// One event per scalar (`loss/val`, `lr/d*lr-group0`) at `step`.
  public func write(scalars: [TrainingScalar], step: Int, epoch: Double, time: Double) throws {
    for s in scalars { try scalar(s.tag, Float(s.value), step: Int64(step), wallTime: time) }
  }

  /// One scalar event (what `SummaryWriter.add_scalar(tag, value, step, walltime)` writes).
  public func scalar(_ tag: String, _ value: Float, step: Int64, wallTime: Double) throws {
    try output.write(Self.record(EventProtobuf.scalars(wallTime: wallTime, step: step, values: [(tag, value)])))
  }

  public func close() { output.close() }

  /// TFRecord framing of one serialized event.
  public static func record(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(data.count + 16)
    withUnsafeBytes(of: UInt64(data.count).littleEndian) { out += $0 }
    let lengthCRC = CRC32C.masked(out[0..<8])
    withUnsafeBytes(of: lengthCRC.littleEndian) { out += $0 }
    out += data
    withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { out += $0 }
    return out
  }
}
