// Writes .safetensors files atomically: the whole file goes to a temporary file in the destination's
// folder, is fsync'ed, renamed over the destination, and the folder is fsync'ed, so a crash leaves
// either the old file or the new one, never half of one.

import FlrCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

public enum SafetensorsWriter {
  /// Writes `tensors` (fp32 in memory) as `dtype` (F32, F16 or BF16; rounding to nearest even as torch's
  /// `.to()`), with `metadata` as `__metadata__`. Names must be unique.
  public static func write(
    _ tensors: [(name: String, tensor: Tensor)], to path: String, dtype: CheckpointDType = .f32,
    metadata: [String: String] = ["format": "pt"]
  ) throws {
    guard dtype.isConvertibleToFloat32 else {
      throw CheckpointError(file: path, "cannot write dtype \(dtype.rawValue); flr writes F32, F16 or BF16")
    }
    // One writer for both paths: `write(entries:)` checks names, sorts by name as the reference writer orders
    // tensors of one dtype, pads the header to 8 bytes, and streams tensor by tensor.
    let entries = tensors.map { SafetensorsEntry.float($0.name, $0.tensor, as: dtype) }
    try write(entries: entries, to: path, metadata: metadata)
  }

  static func encode(
    _ values: UnsafePointer<Float>, count: Int, as dtype: CheckpointDType, into out: UnsafeMutableRawPointer
  ) {
    switch dtype {
    case .f16:
      let half = out.assumingMemoryBound(to: UInt16.self)
      for i in 0..<count { half[i] = Float16(values[i]).bitPattern.littleEndian }
    case .bf16:
      let raw = out.assumingMemoryBound(to: UInt16.self)
      for i in 0..<count { raw[i] = bfloat16Bits(values[i]).littleEndian }
    default:
      out.copyMemory(from: values, byteCount: count * 4)
    }
  }

  /// fp32 -> bf16 with round-to-nearest-even; NaN stays a (quiet) NaN.
  static func bfloat16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(bits >> 16) | 0x0040 }
    let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
  }

  /// temp file in the same folder + fsync + rename + fsync of the folder.
  public static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
    try writeAtomically(to: path) { sink in try sink(bytes) }
  }
}

// MARK: streaming writer for whole models (additive: `save model`)

/// One tensor for `SafetensorsWriter.write(entries:)`: its header fields and a closure that produces its bytes
/// when the writer reaches it, so a model is written one tensor at a time (a merged LoRA weight or an NF4
/// block is computed just before it is written, never all at once).
public struct SafetensorsEntry {
  public let name: String
  public let dtype: CheckpointDType
  public let shape: [Int]
  /// Fills exactly `byteCount` bytes (little-endian elements) at the pointer.
  public let fill: (UnsafeMutableRawPointer) throws -> Void

  public var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }

  public init(
    name: String, dtype: CheckpointDType, shape: [Int], fill: @escaping (UnsafeMutableRawPointer) throws -> Void
  ) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.fill = fill
  }

  /// An fp32 tensor written as `dtype` (F32, F16, BF16; round to nearest even).
  public static func float(_ name: String, _ tensor: Tensor, as dtype: CheckpointDType = .f32) -> SafetensorsEntry {
    SafetensorsEntry(name: name, dtype: dtype, shape: tensor.shape) { out in
      SafetensorsWriter.encode(tensor.data, count: tensor.count, as: dtype, into: out)
    }
  }

  /// fp32 values (a Swift array) as F32.
  public static func floats(_ name: String, _ values: [Float], shape: [Int]) -> SafetensorsEntry {
    SafetensorsEntry(name: name, dtype: .f32, shape: shape) { out in
      values.withUnsafeBytes { out.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }
  }

  /// Raw bytes as U8 (bitsandbytes' packed NF4 codes, absmax codes, quant_state JSON).
  public static func bytes(_ name: String, _ values: [UInt8], shape: [Int]) -> SafetensorsEntry {
    SafetensorsEntry(name: name, dtype: .u8, shape: shape) { out in
      values.withUnsafeBytes { if $0.count > 0 { out.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    }
  }
}

extension SafetensorsWriter {
  /// Writes `entries` (any dtype) to `path` tensor by tensor: header, then each entry's bytes, into a temporary
  /// file beside `path` that is fsync'ed and renamed over it (as `write`). Extra memory is one buffer the size
  /// of the largest tensor. Names must be unique; a `fill` that throws leaves `path` untouched.
  public static func write(
    entries: [SafetensorsEntry], to path: String, metadata: [String: String] = ["format": "pt"]
  ) throws {
    var names = Set<String>()
    for e in entries where !names.insert(e.name).inserted || e.name == "__metadata__" {
      throw CheckpointError(file: path, "tensor name '\(e.name)' is used twice or reserved")
    }
    for e in entries where e.shape.contains(where: { $0 < 0 }) {
      throw CheckpointError(file: path, "tensor '\(e.name)' has a negative dimension \(e.shape)")
    }
    let ordered = entries.sorted { $0.name < $1.name }
    var fields: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonQuoted($0.key)):\(jsonQuoted($0.value))" }
      fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for e in ordered {
      let shape = e.shape.map(String.init).joined(separator: ",")
      fields.append(
        "\(jsonQuoted(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],"
          + "\"data_offsets\":[\(offset),\(offset + e.byteCount)]}")
      offset += e.byteCount
    }
    var header = Array("{\(fields.joined(separator: ","))}".utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    var prefix = [UInt8](repeating: 0, count: 8)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { prefix = Array($0) }

    try writeAtomically(to: path) { sink in
      try prefix.withUnsafeBytes { try sink($0) }
      try header.withUnsafeBytes { try sink($0) }
      // One buffer of the largest tensor's size, reused: a single large allocation the C library returns to
      // the system when freed (many freed mid-sized ones would stay in the heap).
      let largest = ordered.map(\.byteCount).max() ?? 0
      let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(largest, 1), alignment: 64)
      defer { buffer.deallocate() }
      for e in ordered {
        try e.fill(buffer)
        try sink(UnsafeRawBufferPointer(start: buffer, count: e.byteCount))
      }
    }
  }

  /// `produce` hands its bytes, in order, to the sink; they go to a temporary file beside `path` that is
  /// fsync'ed and renamed over `path` (then the folder is fsync'ed). Any throw removes the temporary file.
  public static func writeAtomically(
    to path: String, _ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void
  ) throws {
    let slash = path.lastIndex(of: "/")
    let folder = slash.map { String(path[..<$0]) } ?? "."
    let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let temporary = "\(folder.isEmpty ? "" : folder)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    func fail(_ what: String) -> CheckpointError {
      CheckpointError(file: path, "cannot write: \(what) failed: \(String(cString: strerror(errno)))")
    }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw fail("creating \(temporary)") }
    do {
      try produce { raw in
        var done = 0
        while done < raw.count {
          let n = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
          if n < 0 && errno == EINTR { continue }
          guard n > 0 else { throw fail("write") }
          done += n
        }
      }
      guard fsync(fd) == 0 else { throw fail("fsync") }
    } catch {
      close(fd)
      unlink(temporary)
      throw error
    }
    close(fd)
    guard rename(temporary, path) == 0 else {
      let error = fail("rename")
      unlink(temporary)
      throw error
    }
    let dir = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dir >= 0 {
      fsync(dir)
      close(dir)
    }
  }
}

/// The C `write`, which `SafetensorsWriter.write` would otherwise shadow.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
