// A whole file mapped read-only into memory, with bounds-checked access. Checkpoint tensors point into
// it and keep it alive; it is unmapped when the last of them goes away.

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

public final class MappedFile: @unchecked Sendable {
  public let path: String
  public let size: Int
  /// nil for an empty file.
  let base: UnsafeRawPointer?

  public init(path: String) throws {
    self.path = path
    // O_NONBLOCK: opening a FIFO named like a checkpoint must not wait for a writer.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw CheckpointError(file: path, "cannot open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      throw CheckpointError(file: path, "cannot stat: \(String(cString: strerror(errno)))")
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError(file: path, "is not a regular file") }
    size = Int(info.st_size)
    if size == 0 {
      base = nil
      return
    }
    // MAP_PRIVATE + PROT_WRITE: a zero-copy fp32 tensor view may be written to (copy-on-write, the
    // file never changes) instead of faulting on a read-only page.
    let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
    guard let p, p != MAP_FAILED else {
      throw CheckpointError(file: path, "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
    }
    base = UnsafeRawPointer(p)
  }

  deinit {
    if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
  }

  /// Bytes `offset ..< offset + count`, or nil when any of them lies outside the file.
  func bytes(at offset: Int, count: Int) -> UnsafeRawBufferPointer? {
    guard offset >= 0, count >= 0, offset <= size, count <= size - offset else { return nil }
    guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
    return UnsafeRawBufferPointer(start: base + offset, count: count)
  }
}

/// Owned, 64-byte aligned bytes (a materialised strided view, a buffer read into memory).
final class OwnedBytes: @unchecked Sendable {
  let pointer: UnsafeMutableRawPointer
  let count: Int

  init(count: Int) {
    pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    self.count = count
  }

  deinit { pointer.deallocate() }

  var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}

/// Little-endian integer reads from untrusted bytes; callers check bounds first.
extension UnsafeRawBufferPointer {
  func le<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
    T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
  }
}
