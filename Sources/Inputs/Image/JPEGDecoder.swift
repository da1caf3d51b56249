// JPEG → RGB via TurboJPEG with flags 0 (JDCT_ISLOW, fancy upsampling): libjpeg-turbo's defaults, which are
// what Pillow's decoder uses (SPEC.md Appendix B, 0 differing bytes). Gray is replicated to R = G = B; CMYK and
// YCCK are read as Adobe-inverted CMYK and multiplied out as Pillow's cmyk2rgb does.
import CTurboJPEG

enum JPEGDecoder {
  static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws -> RGBImage {
    guard let handle = tjInitDecompress() else {
      throw ImageError(file: file, kind: .unreadable, problem: "JPEG: cannot create a TurboJPEG decoder")
    }
    defer { tjDestroy(handle) }
    let data = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    let size = UInt(bytes.count)
    func failure(_ kind: ImageError.Kind, _ what: String) -> ImageError {
      let message = String(cString: tjGetErrorStr2(handle))
      return ImageError(file: file, kind: kind, problem: "JPEG: \(what) (\(message))")
    }
    var w: Int32 = 0
    var h: Int32 = 0
    var subsampling: Int32 = 0
    var colorspace: Int32 = 0
    // A warning while reading the header (stray bytes between markers) still fills in the header fields; the
    // decode below decides whether the image is complete.
    if tjDecompressHeader3(handle, data, size, &w, &h, &subsampling, &colorspace) != 0
      && (tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) || w <= 0 || h <= 0)
    {
      throw failure(.corrupt, "cannot read header")
    }
    let width = Int(w)
    let height = Int(h)
    try ImageDecoder.checkSize(width: width, height: height, file: file)

    let format: TJPF
    let channels: Int
    switch TJCS(UInt32(colorspace)) {
    case TJCS_GRAY: (format, channels) = (TJPF_GRAY, 1)
    case TJCS_CMYK, TJCS_YCCK: (format, channels) = (TJPF_CMYK, 4)
    case TJCS_RGB, TJCS_YCbCr: (format, channels) = (TJPF_RGB, 3)
    default:
      throw ImageError(file: file, kind: .unsupported, problem: "JPEG: unsupported colour space \(colorspace)")
    }
    var decoded = [UInt8](repeating: 0, count: width * height * channels)
    let status = decoded.withUnsafeMutableBufferPointer { out in
      tjDecompress2(handle, data, size, out.baseAddress, w, 0, h, Int32(format.rawValue), 0)
    }
    if status != 0 {
      // libjpeg reports a truncated file as a warning and pads the image with gray; never accept that. The one
      // warning whose image is complete (stray bytes between markers, which Pillow also accepts) is let through
      // only when the stream still ends its last scan with an EOI marker.
      let fatal = tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue)
      let message = String(cString: tjGetErrorStr2(handle))
      let harmless = message.contains("extraneous bytes before marker") && endsWithEOI(bytes)
      if fatal || !harmless { throw failure(.corrupt, "image data is truncated or corrupt") }
    }

    if channels == 3 { return RGBImage(width: width, height: height, pixels: decoded) }
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    if channels == 1 {
      for i in 0..<(width * height) {
        let v = decoded[i]
        pixels[3 * i] = v; pixels[3 * i + 1] = v; pixels[3 * i + 2] = v
      }
    } else {
      // Pillow reads CMYK scans as "CMYK;I" (C = 255 - v), then cmyk2rgb: R = MULDIV255(255 - C, 255 - K),
      // so R = MULDIV255(v_c, v_k) on the values libjpeg returns.
      @inline(__always) func muldiv255(_ a: UInt8, _ b: UInt8) -> UInt8 {
        let t = UInt32(a) * UInt32(b) + 128
        return UInt8(((t >> 8) + t) >> 8)
      }
      for i in 0..<(width * height) {
        let k = decoded[4 * i + 3]
        pixels[3 * i] = muldiv255(decoded[4 * i], k)
        pixels[3 * i + 1] = muldiv255(decoded[4 * i + 1], k)
        pixels[3 * i + 2] = muldiv255(decoded[4 * i + 2], k)
      }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }

  /// Whether an EOI marker (FF D9) follows the last start-of-scan marker (FF DA). Entropy-coded data never holds
  /// FF D9 or FF DA (a data FF is always followed by 00 or a restart marker), so a file cut inside its last scan fails.
  static func endsWithEOI(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var lastSOS = -1
    var i = bytes.count - 2
    while i >= 0 {
      if bytes[i] == 0xFF && bytes[i + 1] == 0xDA { lastSOS = i; break }
      i -= 1
    }
    guard lastSOS >= 0 else { return false }
    var j = lastSOS + 2
    while j + 1 < bytes.count {
      if bytes[j] == 0xFF && bytes[j + 1] == 0xD9 { return true }
      j += 1
    }
    return false
  }
}
