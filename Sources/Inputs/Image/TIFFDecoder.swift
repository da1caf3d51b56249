// TIFF → RGB via libtiff (first page), converting the decoded samples the way Pillow 13's TiffImagePlugin and
// convert("RGB") do: gray 1/2/4/8-bit (min-is-white inverted), 16-bit gray clamped to min(v, 255), palette
// (ColorMap high bytes), RGB 8-bit with extra samples dropped or associated alpha divided out, RGB 16-bit (high
// byte), CMYK, JPEG-compressed YCbCr decoded to RGB by libjpeg; then the Orientation tag is applied, as Pillow
// applies it when a TIFF loads. Layouts Pillow cannot read, or reads into modes flr does not convert (float,
// signed, 12-bit, YCbCr other than JPEG's), are refused as unsupported. Separate planes are interleaved.
import CTIFF

enum TIFFDecoder {
  enum Layout {
    case gray(bits: Int, inverted: Bool)
    case gray16
    case palette(bits: Int)
    case rgb8(premultiplied: Bool)
    case rgb16
    case cmyk8
    case jpegRGB
  }

  static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws -> RGBImage {
    func failure(_ kind: ImageError.Kind, _ problem: String) -> ImageError {
      ImageError(file: file, kind: kind, problem: "TIFF: \(problem)")
    }
    var source = flr_tiff_source()
    source.data = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    source.size = UInt64(bytes.count)
    func message() -> String {
      withUnsafeBytes(of: source.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    guard let tif = flr_tiff_open(&source, 1 << 31) else { throw failure(.corrupt, message()) }
    defer { TIFFClose(tif) }
    var info = flr_tiff_info()
    flr_tiff_get_info(tif, &info)
    let width = Int(info.width)
    let height = Int(info.height)
    try ImageDecoder.checkSize(width: width, height: height, file: file)
    let extras = withUnsafeBytes(of: info.extra) { raw in
      (0..<min(Int(info.extra_count), 8)).map { Int(raw.load(fromByteOffset: 2 * $0, as: UInt16.self)) }
    }
    guard
      let layout = self.layout(
        photometric: Int(info.photometric), sampleFormat: Int(info.sample_format), bits: Int(info.bits),
        samples: Int(info.samples), extras: extras, compression: Int(info.compression), planar: Int(info.planar),
        bigEndian: TIFFIsBigEndian(tif) != 0)
    else {
      throw failure(
        .unsupported,
        "unsupported layout (photometric \(info.photometric), \(info.samples) samples of \(info.bits) bits, "
          + "sample format \(info.sample_format), extra samples \(extras), planar \(info.planar))")
    }
    if case .jpegRGB = layout { flr_tiff_jpeg_to_rgb(tif) }
    let planar = info.planar == 2 && info.samples > 1
    let bitsPerPixel: Int
    if case .jpegRGB = layout { bitsPerPixel = 24 } else { bitsPerPixel = Int(info.bits) * Int(info.samples) }
    // libtiff's scanline is one plane's when the planes are separate; they are interleaved into full rows here.
    let scanline = planar ? (width * bitsPerPixel + 7) / 8 : Int(flr_tiff_scanline_size(tif))
    guard scanline > 0 && scanline >= (width * bitsPerPixel + 7) / 8 else {
      throw failure(.corrupt, "invalid row size")
    }
    var rows = [UInt8](repeating: 0, count: scanline * height)
    let status = rows.withUnsafeMutableBufferPointer { out in
      flr_tiff_read_rows(
        tif, &source, out.baseAddress, UInt64(scanline), UInt32(width), UInt32(height),
        UInt32(bitsPerPixel / (planar ? Int(info.samples) : 1)), UInt32(planar ? info.samples : 1), planar ? 1 : 0)
    }
    guard status == 0 else { throw failure(.corrupt, message()) }
    var palette = Palette()
    if case .palette(let bits) = layout {
      guard let r = info.colormap.0, let g = info.colormap.1, let b = info.colormap.2 else {
        throw failure(.corrupt, "palette image without a ColorMap")
      }
      let n = 1 << bits
      func high(_ p: UnsafeMutablePointer<UInt16>) -> [UInt8] { (0..<n).map { UInt8(p[$0] >> 8) } }
      palette = Palette(red: high(r), green: high(g), blue: high(b))
    }
    let image = convert(
      rows, layout: layout, scanline: scanline, samples: Int(info.samples), width: width, height: height,
      palette: palette)
    return ImageOrientation.apply(Int(info.orientation), to: image)
  }

  /// Pillow's OPEN_INFO table, restricted to the modes convert("RGB") turns into RGB as coded here.
  static func layout(
    photometric: Int, sampleFormat: Int, bits: Int, samples: Int, extras: [Int], compression: Int, planar: Int,
    bigEndian: Bool
  ) -> Layout? {
    // Separate planes of 8-bit samples only: Pillow unpacks each plane of 16-bit samples as 8-bit ones.
    if planar == 2 && samples > 1 && bits != 8 { return nil }
    switch photometric {
    case 0, 1:  // min-is-white, min-is-black
      if samples == 1 && sampleFormat == 1 && [1, 2, 4, 8].contains(bits) {
        return .gray(bits: bits, inverted: photometric == 0)
      }
      if samples == 1 && sampleFormat == 2 && bits == 8 && photometric == 1 { return .gray(bits: 8, inverted: false) }
      if samples == 1 && sampleFormat == 1 && bits == 16 && (photometric == 1 || !bigEndian) { return .gray16 }
      if samples == 2 && sampleFormat == 1 && bits == 8 && photometric == 1 && (extras == [0] || extras == [2]) {
        return .gray(bits: 8, inverted: false)  // L + unused or unassociated alpha: the first sample
      }
    case 2:  // RGB
      guard sampleFormat == 1 else { return nil }
      let tail = Array(extras.dropFirst())
      let extrasFit =
        samples - 3 == extras.count && tail.allSatisfy { $0 == 0 }
        && (samples == 3 || [0, 1, 2].contains(extras.first!) || (samples == 4 && extras == [999]))
      if bits == 8 && (extrasFit || (samples == 4 && extras.isEmpty)) {
        return .rgb8(premultiplied: extras.first == 1)
      }
      if bits == 16 && (samples == 3 && extras.isEmpty || samples == 4 && [[], [0], [2]].contains(extras)) {
        return .rgb16
      }
    case 3:  // palette
      guard sampleFormat == 1 else { return nil }
      if samples == 1 && [1, 2, 4, 8].contains(bits) { return .palette(bits: bits) }
      if samples == 2 && bits == 8 && (extras == [0] || extras == [2]) { return .palette(bits: 8) }
    case 5:  // CMYK
      if sampleFormat == 1 && bits == 8 && samples - 4 == extras.count && extras.allSatisfy({ $0 == 0 })
        && samples <= 6
      {
        return .cmyk8
      }
    case 6:  // YCbCr: Pillow reads only JPEG-compressed, contiguous ones through libjpeg's RGB output
      if compression == 7 && planar == 1 && sampleFormat == 1 && bits == 8 && samples == 3 { return .jpegRGB }
    default: break
    }
    return nil
  }

  static func convert(
    _ rows: [UInt8], layout: Layout, scanline: Int, samples: Int, width: Int, height: Int, palette: Palette
  ) -> RGBImage {
    var values = [UInt8](repeating: 0, count: width * height)  // gray or palette index per pixel
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
      let row = y * scanline
      for x in 0..<width {
        let o = 3 * (y * width + x)
        switch layout {
        case .gray(let bits, let inverted):
          var v = sample(rows, at: row, x: x, bits: bits, samples: samples)
          v = bits == 1 ? (v == 0 ? 0 : 255) : bits == 2 ? v &* 85 : bits == 4 ? v &* 17 : v
          values[y * width + x] = inverted ? 255 - v : v
        case .palette(let bits):
          values[y * width + x] = sample(rows, at: row, x: x, bits: bits, samples: samples)
        case .gray16:
          let v = UInt16(rows[row + 2 * x]) | UInt16(rows[row + 2 * x + 1]) << 8  // native (little-endian) order
          let c = UInt8(min(v, 255))
          (pixels[o], pixels[o + 1], pixels[o + 2]) = (c, c, c)
        case .rgb8(let premultiplied):
          let p = row + x * samples
          var (r, g, b) = (rows[p], rows[p + 1], rows[p + 2])
          if premultiplied {
            let a = Int(rows[p + 3])
            // Pillow's RGBa unpacker: 0 stays 0, otherwise min(255, c * 255 / a) truncated.
            func divide(_ c: UInt8) -> UInt8 { a == 0 ? 0 : UInt8(min(255, Int(c) * 255 / a)) }
            (r, g, b) = (divide(r), divide(g), divide(b))
          }
          (pixels[o], pixels[o + 1], pixels[o + 2]) = (r, g, b)
        case .rgb16:
          let p = row + x * samples * 2
          (pixels[o], pixels[o + 1], pixels[o + 2]) = (rows[p + 1], rows[p + 3], rows[p + 5])  // high bytes
        case .cmyk8:
          let p = row + x * samples
          let k = 255 - rows[p + 3]
          (pixels[o], pixels[o + 1], pixels[o + 2]) = (
            muldiv255(255 - rows[p], k), muldiv255(255 - rows[p + 1], k), muldiv255(255 - rows[p + 2], k)
          )
        case .jpegRGB:
          let p = row + x * 3
          (pixels[o], pixels[o + 1], pixels[o + 2]) = (rows[p], rows[p + 1], rows[p + 2])
        }
      }
    }
    switch layout {
    case .gray: return Palette.gray(values, width: width, height: height)
    case .palette: return palette.expand(values, width: width, height: height)
    default: return RGBImage(width: width, height: height, pixels: pixels)
    }
  }

  /// Pixel x's first sample in a row of 1-, 2-, 4-bit (packed, first pixel in the high bits) or 8-bit samples.
  @inline(__always) static func sample(_ rows: [UInt8], at row: Int, x: Int, bits: Int, samples: Int) -> UInt8 {
    if bits == 8 { return rows[row + x * samples] }
    let perByte = 8 / bits
    let shift = 8 - bits - (x % perByte) * bits
    return (rows[row + x / perByte] >> UInt8(shift)) & UInt8((1 << bits) - 1)
  }

  /// round(a * b / 255) as Pillow's MULDIV255 computes it (its cmyk2rgb).
  @inline(__always) static func muldiv255(_ a: UInt8, _ b: UInt8) -> UInt8 {
    let t = UInt32(a) * UInt32(b) + 128
    return UInt8(((t >> 8) + t) >> 8)
  }
}
