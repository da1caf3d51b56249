// WebP → RGB via libwebp. Pillow decodes every WebP through WebPAnimDecoder with its default options
// (non-premultiplied MODE_RGBA) and then drops alpha; for a still image that is WebPDecodeRGBA of the file.
import CWebP

enum WebPDecoder {
  static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws -> RGBImage {
    let data = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    var features = WebPBitstreamFeatures()
    let status = WebPGetFeatures(data, bytes.count, &features)
    guard status == VP8_STATUS_OK else {
      throw ImageError(
        file: file, kind: .corrupt, problem: "WebP: cannot read header (libwebp status \(status.rawValue))")
    }
    if features.has_animation != 0 {
      throw ImageError(file: file, kind: .unsupported, problem: "animated WebP is not supported")
    }
    let width = Int(features.width)
    let height = Int(features.height)
    try ImageDecoder.checkSize(width: width, height: height, file: file)
    var rgba = [UInt8](repeating: 0, count: width * height * 4)
    let ok = rgba.withUnsafeMutableBufferPointer { out in
      WebPDecodeRGBAInto(data, bytes.count, out.baseAddress, out.count, Int32(width * 4)) != nil
    }
    guard ok else {
      throw ImageError(file: file, kind: .corrupt, problem: "WebP: image data is truncated or corrupt")
    }
    return RGBImage(width: width, height: height, droppingAlphaOf: rgba)
  }
}
