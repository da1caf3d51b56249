// PNG → RGB via libpng, converting the raw samples the way Pillow's PngImagePlugin + convert("RGB") do:
// gAMA/sRGB/iCCP are ignored, alpha is dropped (not composited), tRNS is ignored, a palette is a plain lookup,
// 16-bit gray is clamped to min(v, 255) (Pillow's I;16 → RGB), other 16-bit samples keep their high byte.
import CPNG

enum PNGDecoder {
  static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws -> RGBImage {
    // Size checks from IHDR first, so a zero-size or huge image gets its own error (libpng only says "Invalid IHDR").
    if bytes.count >= 24 && bytes[12] == 0x49 && bytes[13] == 0x48 && bytes[14] == 0x44 && bytes[15] == 0x52 {
      func u32(_ i: Int) -> Int {
        Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
      }
      try ImageDecoder.checkSize(width: u32(16), height: u32(20), file: file)
    }
    var png = flr_png_image()
    let status = flr_png_decode(
      bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, UInt64(ImageDecoder.maxPixels), &png)
    defer { flr_png_free(&png) }
    guard status == 0, let raw = png.pixels else {
      let message = withUnsafeBytes(of: png.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      let kind: ImageError.Kind =
        message.contains("zero size") ? .zeroSize : message.contains("above the limit") ? .tooLarge : .corrupt
      throw ImageError(file: file, kind: kind, problem: "PNG: \(message)")
    }
    let width = Int(png.width)
    let height = Int(png.height)
    try ImageDecoder.checkSize(width: width, height: height, file: file)
    let rowBytes = png.row_bytes
    let channels = Int(png.channels)
    let sixteen = png.bit_depth == 16
    let colorType = png.color_type
    // An index past the end of PLTE becomes black in Pillow (measured: png_palette_short.png), not an error.
    var palette = [UInt8](repeating: 0, count: 768)
    withUnsafeBytes(of: png.palette) { p in
      for i in 0..<(3 * Int(png.num_palette)) { palette[i] = p[i] }
    }

    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    pixels.withUnsafeMutableBufferPointer { out in
      for y in 0..<height {
        let row = raw + y * rowBytes
        let dst = out.baseAddress! + y * width * 3
        switch (colorType, sixteen) {
        case (Int32(PNG_COLOR_TYPE_GRAY), false), (Int32(PNG_COLOR_TYPE_GRAY_ALPHA), false):
          for x in 0..<width {
            let v = row[x * channels]
            dst[3 * x] = v; dst[3 * x + 1] = v; dst[3 * x + 2] = v
          }
        case (Int32(PNG_COLOR_TYPE_GRAY), true):
          // Mode I;16: the full 16-bit value, clamped (not scaled) to 255 by convert("RGB").
          for x in 0..<width {
            let v = UInt16(row[2 * x]) << 8 | UInt16(row[2 * x + 1])
            let c = UInt8(min(v, 255))
            dst[3 * x] = c; dst[3 * x + 1] = c; dst[3 * x + 2] = c
          }
        case (Int32(PNG_COLOR_TYPE_GRAY_ALPHA), true):
          for x in 0..<width {
            let v = row[4 * x]  // high byte of L (rawmode LA;16B)
            dst[3 * x] = v; dst[3 * x + 1] = v; dst[3 * x + 2] = v
          }
        case (Int32(PNG_COLOR_TYPE_PALETTE), _):
          for x in 0..<width {
            let i = Int(row[x]) * 3
            dst[3 * x] = palette[i]; dst[3 * x + 1] = palette[i + 1]; dst[3 * x + 2] = palette[i + 2]
          }
        default:  // RGB or RGBA, 8 or 16 bits: the high (first, big-endian) byte of R, G, B
          let step = sixteen ? 2 : 1
          for x in 0..<width {
            let p = row + x * channels * step
            dst[3 * x] = p[0]; dst[3 * x + 1] = p[step]; dst[3 * x + 2] = p[2 * step]
          }
        }
      }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }
}
