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
    var names = Set<String>()
    for (name, _) in tensors where !names.insert(name).inserted || name == "__metadata__" {
      throw CheckpointError(file: path, "tensor name '\(name)' is used twice or reserved")
    }
    // Sorted by name, as the reference writer orders tensors of one dtype; offsets are back to back.
    let ordered = tensors.sorted { $0.name < $1.name }
    var fields: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonQuoted($0.key)):\(jsonQuoted($0.value))" }
      fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for (name, tensor) in ordered {
      let size = tensor.count * dtype.byteSize
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      fields.append(
        "\(jsonQuoted(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + size)]}"
      )
      offset += size
    }
    var header = Array("{\(fields.joined(separator: ","))}".utf8)
    // Padded with spaces to a multiple of 8 so the data (and every fp32 tensor in it) stays aligned.
    while header.count % 8 != 0 { header.append(0x20) }

    let file = OwnedBytes(count: 8 + header.count + offset)
    file.pointer.storeBytes(of: UInt64(header.count).littleEndian, as: UInt64.self)
    header.withUnsafeBytes { (file.pointer + 8).copyMemory(from: $0.baseAddress!, byteCount: header.count) }
    var at = file.pointer + 8 + header.count
    for (_, tensor) in ordered {
      encode(tensor.data, count: tensor.count, as: dtype, into: at)
      at += tensor.count * dtype.byteSize
    }
    try writeAtomically(file.buffer, to: path)
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
    let slash = path.lastIndex(of: "/")
    let folder = slash.map { String(path[..<$0]) } ?? "."
    let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let temporary = "\(folder.isEmpty ? "" : folder)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    func fail(_ what: String) -> CheckpointError {
      CheckpointError(file: path, "cannot write: \(what) failed: \(String(cString: strerror(errno)))")
    }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw fail("creating \(temporary)") }
    var done = 0
    while done < bytes.count {
      let n = posixWrite(fd, bytes.baseAddress! + done, bytes.count - done)
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        let error = fail("write")
        close(fd)
        unlink(temporary)
        throw error
      }
      done += n
    }
    guard fsync(fd) == 0 else {
      let error = fail("fsync")
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
