// Not ZIPFoundation 0.9.20: its extract() copies entry bytes in chunks (no public data offset); these are mmap views.
// A reader for the zip files torch.save writes: stored (uncompressed) entries, found through the
// central directory, zip64 when the file or an entry passes 4 GiB. Every offset is checked against the
// file before use; entry data are views into the mapping.

struct ZipArchive {
  struct Entry {
    let name: String
    let method: UInt16
    let flags: UInt16
    let crc32: UInt32
    let compressedSize: Int
    let size: Int
    let localHeaderOffset: Int
  }

  let file: MappedFile
  /// In central-directory order.
  let entries: [Entry]
  private let index: [String: Int]

  init(_ file: MappedFile) throws {
    self.file = file
    let path = file.path
    func fail(_ why: String) -> CheckpointError { CheckpointError(file: path, "invalid zip archive: \(why)") }
    guard let all = file.bytes(at: 0, count: file.size), file.size >= 22 else {
      throw fail("\(file.size) bytes is too short for a zip file")
    }

    // End of central directory: 22 bytes + a comment of at most 65535, scanned backwards.
    var eocd = -1
    var at = file.size - 22
    while at >= max(0, file.size - 22 - 65535) {
      if all.le(at, as: UInt32.self) == 0x0605_4B50 {
        eocd = at
        break
      }
      at -= 1
    }
    guard eocd >= 0 else { throw fail("no end-of-central-directory record (not a zip, or truncated)") }
    var count = Int(all.le(eocd + 10, as: UInt16.self))
    var directorySize = Int(all.le(eocd + 12, as: UInt32.self))
    var directoryOffset = Int(all.le(eocd + 16, as: UInt32.self))
    guard all.le(eocd + 4, as: UInt16.self) == 0 || all.le(eocd + 4, as: UInt16.self) == 0xFFFF else {
      throw fail("multi-part archives are not supported")
    }
    if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
      // zip64: a locator just before the record points at the zip64 end-of-central-directory record.
      let locator = eocd - 20
      guard locator >= 0, all.le(locator, as: UInt32.self) == 0x0706_4B50 else {
        throw fail("zip64 sizes without a zip64 locator")
      }
      let record64 = all.le(locator + 8, as: UInt64.self)
      guard file.size >= 56, record64 <= UInt64(file.size - 56), all.le(Int(record64), as: UInt32.self) == 0x0606_4B50
      else {
        throw fail("zip64 end-of-central-directory record missing or outside the file")
      }
      let r = Int(record64)
      let count64 = all.le(r + 32, as: UInt64.self)
      let size64 = all.le(r + 40, as: UInt64.self)
      let offset64 = all.le(r + 48, as: UInt64.self)
      guard count64 <= UInt64(file.size), size64 <= UInt64(file.size), offset64 <= UInt64(file.size) else {
        throw fail("zip64 central directory fields exceed the file size")
      }
      (count, directorySize, directoryOffset) = (Int(count64), Int(size64), Int(offset64))
    }
    guard directoryOffset <= file.size, directorySize <= file.size - directoryOffset, count <= directorySize / 46
    else { throw fail("central directory (\(count) entries at \(directoryOffset)) lies outside the file") }

    var entries: [Entry] = []
    var index: [String: Int] = [:]
    var p = directoryOffset
    let end = directoryOffset + directorySize
    for _ in 0..<count {
      guard p + 46 <= end, all.le(p, as: UInt32.self) == 0x0201_4B50 else {
        throw fail("central directory entry \(entries.count) is damaged")
      }
      let nameLength = Int(all.le(p + 28, as: UInt16.self))
      let extraLength = Int(all.le(p + 30, as: UInt16.self))
      let commentLength = Int(all.le(p + 32, as: UInt16.self))
      guard p + 46 + nameLength + extraLength + commentLength <= end else {
        throw fail("central directory entry \(entries.count) runs past the directory")
      }
      let name = String(
        decoding: UnsafeRawBufferPointer(rebasing: all[(p + 46)..<(p + 46 + nameLength)]), as: UTF8.self)
      var compressed = UInt64(all.le(p + 20, as: UInt32.self))
      var size = UInt64(all.le(p + 24, as: UInt32.self))
      var local = UInt64(all.le(p + 42, as: UInt32.self))
      // zip64 extended information (id 1) holds, in this order, whichever of these fields are 0xFFFFFFFF.
      var e = p + 46 + nameLength
      let extraEnd = e + extraLength
      while e + 4 <= extraEnd {
        let id = all.le(e, as: UInt16.self)
        let length = Int(all.le(e + 2, as: UInt16.self))
        guard e + 4 + length <= extraEnd else { throw fail("entry '\(name)' has a damaged extra field") }
        if id == 1 {
          var q = e + 4
          for field in [0, 1, 2] {
            let value: UInt64 = field == 0 ? size : field == 1 ? compressed : local
            guard value == 0xFFFF_FFFF else { continue }
            guard q + 8 <= e + 4 + length else { throw fail("entry '\(name)' has a short zip64 field") }
            let wide = all.le(q, as: UInt64.self)
            if field == 0 { size = wide } else if field == 1 { compressed = wide } else { local = wide }
            q += 8
          }
        }
        e += 4 + length
      }
      guard size <= UInt64(file.size), compressed <= UInt64(file.size), local <= UInt64(file.size) else {
        throw fail("entry '\(name)' has sizes or offsets past the end of the file")
      }
      guard index[name] == nil else { throw fail("entry '\(name)' appears twice") }
      index[name] = entries.count
      entries.append(
        Entry(
          name: name, method: all.le(p + 10, as: UInt16.self), flags: all.le(p + 8, as: UInt16.self),
          crc32: all.le(p + 16, as: UInt32.self), compressedSize: Int(compressed), size: Int(size),
          localHeaderOffset: Int(local)))
      p += 46 + nameLength + extraLength + commentLength
    }
    self.entries = entries
    self.index = index
  }

  func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

  /// The bytes of a stored entry (a view into the mapping); `verifyChecksum` checks its CRC-32 when the
  /// archive recorded one (torch can be told not to compute them, then it writes 0).
  func data(_ name: String, verifyChecksum: Bool = false) throws -> UnsafeRawBufferPointer {
    let path = file.path
    guard let entry = entry(name) else { throw CheckpointError(file: path, "zip entry '\(name)' is missing") }
    guard entry.flags & 1 == 0 else { throw CheckpointError(file: path, "zip entry '\(name)' is encrypted") }
    guard entry.method == 0, entry.compressedSize == entry.size else {
      throw CheckpointError(
        file: path, "zip entry '\(name)' is compressed (method \(entry.method)); torch.save stores entries uncompressed"
      )
    }
    guard let header = file.bytes(at: entry.localHeaderOffset, count: 30), header.le(0, as: UInt32.self) == 0x0403_4B50
    else { throw CheckpointError(file: path, "zip entry '\(name)': local header missing or damaged") }
    let dataOffset =
      entry.localHeaderOffset + 30 + Int(header.le(26, as: UInt16.self))
      + Int(header.le(28, as: UInt16.self))
    guard let bytes = file.bytes(at: dataOffset, count: entry.size) else {
      throw CheckpointError(
        file: path,
        "zip entry '\(name)': \(entry.size) bytes at \(dataOffset) run past the end of the file (\(file.size) bytes)")
    }
    if verifyChecksum, entry.crc32 != 0, crc32(bytes) != entry.crc32 {
      throw CheckpointError(file: path, "zip entry '\(name)' is corrupt (CRC-32 mismatch)")
    }
    return bytes
  }
}

private let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
  var c = UInt32(n)
  for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
  return c
}

func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
  var c: UInt32 = 0xFFFF_FFFF
  for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
  return c ^ 0xFFFF_FFFF
}
