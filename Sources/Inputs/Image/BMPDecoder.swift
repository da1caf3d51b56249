// BMP → RGB, read by hand the way Pillow 13's BmpImagePlugin reads it: the 12-byte OS/2 header and the 40- to
// 124-byte Windows headers, 1/4/8-bit palettes (a palette of grays is dropped, as Pillow does), 16-bit 5-5-5 and
// 5-6-5, 24-bit, 32-bit with the bit-field layouts Pillow knows (alpha dropped), RLE8 and RLE4. Every offset and
// size comes from the file, so each is checked against the file before it is used; the pixel buffer is
// allocated only after the size check.

enum BMPDecoder {
  /// How one pixel is stored (Pillow's raw modes "1", "L", "P;n", "BGR;15", "BGR;16", "BGR", "BGRX", ...).
  enum Samples {
    case bilevel  // one bit, 1 = white
    case gray8
    case indices(bits: Int)
    case rgb555, rgb565  // little-endian words, blue in the low bits
    case bytes(count: Int, red: Int, green: Int, blue: Int)

    var bits: Int {
      switch self {
      case .bilevel: return 1
      case .gray8: return 8
      case .indices(let bits): return bits
      case .rgb555, .rgb565: return 16
      case .bytes(let count, _, _, _): return 8 * count
      }
    }
  }

  /// The 32-bit (red, green, blue, alpha) masks Pillow reads, and where red, green and blue sit in the pixel.
  static let layouts32: [[Int]: (Int, Int, Int)] = [
    [0xFF_0000, 0xFF00, 0xFF, 0]: (2, 1, 0), [0xFF00_0000, 0xFF_0000, 0xFF00, 0]: (3, 2, 1),
    [0xFF00_0000, 0xFF00, 0xFF, 0]: (3, 1, 0), [0xFF00_0000, 0xFF_0000, 0xFF00, 0xFF]: (3, 2, 1),
    [0xFF, 0xFF00, 0xFF_0000, 0xFF00_0000]: (0, 1, 2), [0xFF_0000, 0xFF00, 0xFF, 0xFF00_0000]: (2, 1, 0),
    [0xFF00_0000, 0xFF00, 0xFF, 0xFF_0000]: (3, 1, 0), [0, 0, 0, 0]: (2, 1, 0),
  ]

  static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws -> RGBImage {
    func failure(_ kind: ImageError.Kind, _ problem: String) -> ImageError {
      ImageError(file: file, kind: kind, problem: "BMP: \(problem)")
    }
    func u16(_ i: Int) throws -> Int {
      guard i + 2 <= bytes.count else { throw failure(.corrupt, "file is truncated (header)") }
      return Int(bytes[i]) | Int(bytes[i + 1]) << 8
    }
    func u32(_ i: Int) throws -> Int {
      guard i + 4 <= bytes.count else { throw failure(.corrupt, "file is truncated (header)") }
      return Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
    }
    var offset = try u32(10)
    let headerSize = try u32(14)
    guard [12, 40, 52, 56, 64, 108, 124].contains(headerSize) else {
      throw failure(.unsupported, "unknown header type (\(headerSize) bytes)")
    }
    guard 14 + headerSize <= bytes.count else { throw failure(.corrupt, "file is truncated (header)") }
    var position = 14 + headerSize  // what follows the header: bit-field masks (40-byte header) or the palette
    let width: Int, height: Int, bits: Int, compression: Int, colorsField: Int, paletteStride: Int
    var topDown = false
    if headerSize == 12 {
      (width, height, bits) = (try u16(18), try u16(20), try u16(24))
      (compression, colorsField, paletteStride) = (0, 0, 3)
    } else {
      topDown = bytes[25] == 0xFF  // a negative height: rows stored top to bottom
      width = try u32(18)
      height = topDown ? (1 << 32) - (try u32(22)) : try u32(22)
      (bits, compression, colorsField, paletteStride) = (try u16(28), try u32(30), try u32(46), 4)
    }
    var masks = [0, 0, 0, 0]
    if compression == 3 && headerSize != 12 {
      if headerSize >= 52 {
        masks = [try u32(54), try u32(58), try u32(62), headerSize >= 56 ? try u32(66) : 0]
      } else {
        masks = [try u32(position), try u32(position + 4), try u32(position + 8), 0]
        position += 12
      }
    }
    try ImageDecoder.checkSize(width: width, height: height, file: file)

    var samples: Samples
    switch bits {
    case 1, 4, 8: samples = .indices(bits: bits)
    case 16: samples = .rgb555
    case 24: samples = .bytes(count: 3, red: 2, green: 1, blue: 0)
    case 32: samples = .bytes(count: 4, red: 2, green: 1, blue: 0)
    default: throw failure(.unsupported, "unsupported pixel depth (\(bits) bits)")
    }
    let colors = colorsField != 0 ? colorsField : 1 << bits
    if offset == 14 + headerSize && bits <= 8 { offset += paletteStride * colors }
    var runLength = false
    switch compression {
    case 0: break
    case 1, 2:
      guard bits <= 8 else { throw failure(.unsupported, "run-length data with \(bits)-bit pixels") }
      runLength = true
    case 3:
      if bits == 32, let (r, g, b) = layouts32[masks] {
        samples = .bytes(count: 4, red: r, green: g, blue: b)
      } else if bits == 24 && masks[0..<3] == [0xFF_0000, 0xFF00, 0xFF] {
        samples = .bytes(count: 3, red: 2, green: 1, blue: 0)
      } else if bits == 16 && masks[0..<3] == [0xF800, 0x7E0, 0x1F] {
        samples = .rgb565
      } else if bits == 16 && masks[0..<3] == [0x7C00, 0x3E0, 0x1F] {
        samples = .rgb555
      } else {
        throw failure(.unsupported, "unsupported bit-field layout")
      }
    default: throw failure(.unsupported, "unsupported compression (\(compression))")
    }

    var palette = Palette()
    if bits <= 8 {
      guard colors > 0 && colors <= 65536 else { throw failure(.corrupt, "palette of \(colors) colours") }
      let available = max(0, min(paletteStride * colors, bytes.count - position))
      let table = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + available)])
      position += available
      // Pillow drops a palette whose entries are the grays 0, 1, 2, ... (0 and 255 for two colours).
      var grays = true
      for index in 0..<colors where grays {
        let value = UInt8(truncatingIfNeeded: colors == 2 ? index * 255 : index)
        let e = index * paletteStride
        grays = e + 3 <= table.count && table[e] == value && table[e + 1] == value && table[e + 2] == value
      }
      if grays && colors <= 2 {
        samples = .bilevel  // Pillow then reads one bit per pixel whatever the depth
      } else if grays {
        guard bits == 8 || runLength else { throw failure(.unsupported, "\(bits)-bit pixels with a gray palette") }
        samples = .gray8
      } else {
        palette = Palette(bytes: table, stride: paletteStride, bgr: true)
      }
    }
    let start = offset != 0 ? offset : position
    var values: [UInt8]  // one index or gray per pixel, top row first (palette and gray images)
    if runLength {
      if case .bilevel = samples { throw failure(.unsupported, "run-length data with a black-and-white palette") }
      values = try BMPRunLength.decode(
        bytes, from: start, width: width, height: height, fourBit: compression == 2, file: file)
      if !topDown { values = flipRows(values, width: width, height: height) }
    } else {
      let stride = ((width * bits + 31) >> 3) & ~3
      let needed = stride * (height - 1) + (width * samples.bits + 7) / 8
      guard start <= bytes.count && bytes.count - start >= needed else {
        throw failure(.corrupt, "pixel data is truncated")
      }
      let rows = UnsafeRawBufferPointer(rebasing: bytes[start...])
      func row(_ y: Int) -> Int { (topDown ? y : height - 1 - y) * stride }
      switch samples {
      case .bilevel, .gray8, .indices:
        values = unpack(rows, samples: samples, width: width, height: height, row: row)
      case .rgb555, .rgb565, .bytes:
        return unpackRGB(rows, samples: samples, width: width, height: height, row: row)
      }
    }
    switch samples {
    case .bilevel, .gray8: return Palette.gray(values, width: width, height: height)
    default: return palette.expand(values, width: width, height: height)
    }
  }

  /// One byte per pixel from 1-, 4- or 8-bit rows: palette indices, or gray (0/255 for bilevel).
  static func unpack(
    _ rows: UnsafeRawBufferPointer, samples: Samples, width: Int, height: Int, row: (Int) -> Int
  ) -> [UInt8] {
    var values = [UInt8](repeating: 0, count: width * height)
    let bits = samples.bits
    let perByte = 8 / bits
    let mask = UInt8((1 << bits) - 1)
    for y in 0..<height {
      let first = row(y)
      for x in 0..<width {
        let byte = rows[first + x / perByte]
        var v = (byte >> UInt8(8 - bits - (x % perByte) * bits)) & mask
        if case .bilevel = samples { v = v == 0 ? 0 : 255 }
        values[y * width + x] = v
      }
    }
    return values
  }

  /// RGB from 16-, 24- and 32-bit rows. 5- and 6-bit fields scale as Pillow's unpackers do: v * 255 / 31 (or 63),
  /// truncated.
  static func unpackRGB(
    _ rows: UnsafeRawBufferPointer, samples: Samples, width: Int, height: Int, row: (Int) -> Int
  ) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
      let first = row(y)
      for x in 0..<width {
        let o = 3 * (y * width + x)
        switch samples {
        case .rgb555, .rgb565:
          let v = Int(rows[first + 2 * x]) | Int(rows[first + 2 * x + 1]) << 8
          var red = (v >> 10) & 31
          var green = ((v >> 5) & 31) * 255 / 31
          if case .rgb565 = samples {
            red = (v >> 11) & 31
            green = ((v >> 5) & 63) * 255 / 63
          }
          pixels[o] = UInt8(red * 255 / 31)
          pixels[o + 1] = UInt8(green)
          pixels[o + 2] = UInt8((v & 31) * 255 / 31)
        case .bytes(let count, let r, let g, let b):
          let p = first + count * x
          pixels[o] = rows[p + r]
          pixels[o + 1] = rows[p + g]
          pixels[o + 2] = rows[p + b]
        default: break
        }
      }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }

  static func flipRows(_ values: [UInt8], width: Int, height: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: values.count)
    for y in 0..<height {
      out[(height - 1 - y) * width..<(height - y) * width] = values[y * width..<(y + 1) * width]
    }
    return out
  }
}
