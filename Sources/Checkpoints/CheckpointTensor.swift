// One tensor as a checkpoint file stores it: name, element type, shape and the raw little-endian bytes
// (a view into the mapped file, or an owned copy for a strided torch view). `toFloat32()` gives the
// fp32 `Tensor` the model uses: fp16/bf16 are converted once, fp32 is a zero-copy view when aligned.

import FlrCore

/// Element types, named as safetensors names them (torch storages map onto the same set).
public enum CheckpointDType: String, Sendable, CaseIterable {
  case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
  case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
  case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
  case bool = "BOOL", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

  public var byteSize: Int {
    switch self {
    case .f64, .i64, .u64: return 8
    case .f32, .i32, .u32: return 4
    case .f16, .bf16, .i16, .u16: return 2
    case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
    }
  }

  /// Whether `toFloat32()` converts this type (the ones Florence-2 checkpoints use).
  public var isConvertibleToFloat32: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

public struct CheckpointTensor: @unchecked Sendable {
  public let name: String
  public let dtype: CheckpointDType
  public let shape: [Int]
  /// The file this tensor was read from (for messages).
  public let file: String
  /// Row-major little-endian elements, `elementCount * dtype.byteSize` bytes; valid while this value lives.
  public let bytes: UnsafeRawBufferPointer
  /// Keeps `bytes` alive: a `MappedFile` or `OwnedBytes`.
  let owner: AnyObject

  init(
    name: String, dtype: CheckpointDType, shape: [Int], file: String, bytes: UnsafeRawBufferPointer, owner: AnyObject
  ) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.file = file
    self.bytes = bytes
    self.owner = owner
  }

  public var elementCount: Int { shape.reduce(1, *) }

  /// True when both are the same bytes (tied weights: `shared`, `embed_tokens`, `lm_head`).
  public func sharesBytes(with other: CheckpointTensor) -> Bool {
    bytes.baseAddress == other.bytes.baseAddress && bytes.count == other.bytes.count && dtype == other.dtype
  }

  /// The values as a contiguous fp32 tensor of `shape`. fp32 data that is 4-byte aligned is not copied
  /// (the tensor keeps the mapping alive; writes to it are private, the file never changes).
  public func toFloat32() throws -> Tensor {
    let count = elementCount
    guard dtype.isConvertibleToFloat32 else {
      throw CheckpointError(
        file: file, "tensor '\(name)' has dtype \(dtype.rawValue); flr converts only F32, F16 and BF16 to fp32")
    }
    guard count > 0, let source = bytes.baseAddress else { return Tensor(zeros: shape) }
    if dtype == .f32, Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
      let keepAlive = owner
      let buffer = TensorBuffer(
        borrowing: UnsafeMutablePointer(mutating: source.assumingMemoryBound(to: Float.self)), capacity: count,
        onFree: { withExtendedLifetime(keepAlive) {} })
      return Tensor(shape: shape, buffer: buffer)
    }
    let out = Tensor(zeros: shape)
    if Int(bitPattern: source) % 2 == 0 {
      Self.convert(source, dtype: dtype, count: count, into: out.data)
    } else {
      // Odd offsets only come from hand-made files; realign once rather than load unaligned per element.
      let aligned = OwnedBytes(count: bytes.count)
      aligned.pointer.copyMemory(from: source, byteCount: bytes.count)
      Self.convert(UnsafeRawPointer(aligned.pointer), dtype: dtype, count: count, into: out.data)
    }
    return out
  }

  // fp16 -> fp32 and bf16 -> fp32 are exact, so any checkpoint value round-trips bit for bit.
  // Split over the worker threads: loading is mostly this loop (and the page faults it takes).
  static func convert(
    _ source: UnsafeRawPointer, dtype: CheckpointDType, count: Int, into out: UnsafeMutablePointer<Float>
  ) {
    Threads.parallelChunks(count, grain: 1 << 18) { range in
      convertSerially(
        source + range.lowerBound * dtype.byteSize, dtype: dtype, count: range.count, into: out + range.lowerBound)
    }
  }

  static func convertSerially(
    _ source: UnsafeRawPointer, dtype: CheckpointDType, count: Int, into out: UnsafeMutablePointer<Float>
  ) {
    switch dtype {
    case .f32:
      UnsafeMutableRawPointer(out).copyMemory(from: source, byteCount: count * 4)
    case .f16:
      let half = source.assumingMemoryBound(to: Float16.self)
      for i in 0..<count { out[i] = Float(half[i]) }
    case .bf16:
      let raw = source.assumingMemoryBound(to: UInt16.self)
      for i in 0..<count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw[i])) << 16) }
    default:
      break
    }
  }
}
