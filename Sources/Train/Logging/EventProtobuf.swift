// Not swift-protobuf 1.39.0: 5 fields here, while its runtime alone took 229 s to build and codegen needs protoc.
// The TensorBoard `Event` protobuf, encoded by hand for the few fields flr writes (tensorboard/compat/proto/
// event.proto, summary.proto; proto3):
//   Event   { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5; } }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; oneof value { float simple_value = 2; } }
// Field order and zero handling follow the protobuf serializer, so the bytes equal `Event.SerializeToString()`:
// fields in number order; proto3 scalars (wall_time, step, tag) left out when zero/empty; oneof members
// (file_version, summary, simple_value) always written once set.

public enum EventProtobuf {
  /// The first record of every event file: `Event(wall_time=t, file_version="brain.Event:2")`.
  public static func fileVersion(wallTime: Double) -> [UInt8] {
    var out: [UInt8] = []
    appendDouble(field: 1, wallTime, to: &out)
    appendBytes(field: 3, Array("brain.Event:2".utf8), to: &out)
    return out
  }

  /// `Event(wall_time=t, step=s, summary=Summary(value=[Value(tag=..., simple_value=...)...]))`.
  public static func scalars(wallTime: Double, step: Int64, values: [(tag: String, value: Float)]) -> [UInt8] {
    var summary: [UInt8] = []
    for (tag, value) in values {
      var item: [UInt8] = []
      if !tag.isEmpty { appendBytes(field: 1, Array(tag.utf8), to: &item) }
      appendKey(field: 2, wireType: 5, to: &item)
      appendLittleEndian(value.bitPattern, to: &item)
      appendBytes(field: 1, item, to: &summary)
    }
    var out: [UInt8] = []
    appendDouble(field: 1, wallTime, to: &out)
    if step != 0 {
      appendKey(field: 2, wireType: 0, to: &out)
      appendVarint(UInt64(bitPattern: step), to: &out)  // negative int64: ten bytes, as protobuf does
    }
    appendBytes(field: 5, summary, to: &out)
    return out
  }

  static func appendDouble(field: Int, _ value: Double, to out: inout [UInt8]) {
    guard value.bitPattern != 0 else { return }  // proto3 leaves +0.0 out (-0.0 has bits and is written)
    appendKey(field: field, wireType: 1, to: &out)
    appendLittleEndian(value.bitPattern, to: &out)
  }

  static func appendBytes(field: Int, _ bytes: [UInt8], to out: inout [UInt8]) {
    appendKey(field: field, wireType: 2, to: &out)
    appendVarint(UInt64(bytes.count), to: &out)
    out += bytes
  }

  static func appendKey(field: Int, wireType: Int, to out: inout [UInt8]) {
    appendVarint(UInt64(field << 3 | wireType), to: &out)
  }

  static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
      out.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    out.append(UInt8(v))
  }

  static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { out += $0 }
  }
}
