// BMP RLE8 / RLE4 → one index per pixel, rows in file order, as Pillow 13's BmpRleDecoder expands them: runs
// clipped at the row's end, end-of-line pads the row with index 0, a delta skips pixels (index 0), absolute runs
// are padded to an even file offset. Data that ends before every pixel is set is refused, as Pillow refuses it.

enum BMPRunLength {
  static func decode(
    _ bytes: UnsafeRawBufferPointer, from start: Int, width: Int, height: Int, fourBit: Bool, file: String
  ) throws -> [UInt8] {
    let total = width * height
    var data = [UInt8]()
    data.reserveCapacity(total)
    var at = start
    var x = 0
    func next() -> UInt8? {
      guard at < bytes.count else { return nil }
      defer { at += 1 }
      return bytes[at]
    }
    decoding: while data.count < total {
      guard at <= bytes.count, let count = next(), let byte = next() else { break }
      if count > 0 {  // a run of `count` pixels
        let n = x + Int(count) > width ? max(0, width - x) : Int(count)
        for i in 0..<n { data.append(fourBit ? (i % 2 == 0 ? byte >> 4 : byte & 0x0F) : byte) }
        x += n
        continue
      }
      switch byte {
      case 0:  // end of line
        while data.count % width != 0 { data.append(0) }
        x = 0
      case 1: break decoding  // end of bitmap
      case 2:  // delta: right, up
        guard let right = next(), let up = next() else { break decoding }
        let skip = min(total - data.count, Int(right) + Int(up) * width)
        data.append(contentsOf: repeatElement(0, count: skip))
        x = data.count % width
      default:  // an absolute run of `byte` pixels
        let count = min(total - data.count, Int(byte))
        let wanted = fourBit ? (count + 1) / 2 : count
        let read = min(wanted, max(0, bytes.count - at))
        for i in 0..<read {
          let b = bytes[at + i]
          if fourBit {
            data.append(b >> 4)
            if i * 2 + 1 < count { data.append(b & 0x0F) }
          } else {
            data.append(b)
          }
        }
        at += read
        if read < wanted || data.count == total { break decoding }
        x += Int(byte)
        if at % 2 != 0 { at += 1 }
      }
    }
    guard data.count >= total else {
      throw ImageError(
        file: file, kind: .corrupt,
        problem: "BMP: run-length data ends after \(data.count) of \(total) pixels")
    }
    return Array(data.prefix(total))
  }
}
