// AVIF → RGB via libavif: the first image, converted to 8-bit RGB by libavif's avifImageYUVToRGB with its default
// settings, which is what Pillow 13's AVIF plugin does (alpha, when present, is dropped by convert("RGB")).
// Pillow's strictness is matched: a missing 'pixi' property or an invalid clean aperture is accepted. The image's
// rotation and mirror properties are not applied (Pillow records them as EXIF orientation only).
import CAVIF

enum AVIFDecoder {
  static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws -> RGBImage {
    func failure(_ result: avifResult, _ what: String) -> ImageError {
      ImageError(
        file: file, kind: .corrupt, problem: "AVIF: \(what) (\(String(cString: avifResultToString(result))))")
    }
    guard let decoder = avifDecoderCreate() else {
      throw ImageError(file: file, kind: .unreadable, problem: "AVIF: cannot create a decoder")
    }
    defer { avifDecoderDestroy(decoder) }
    decoder.pointee.strictFlags &= ~(AVIF_STRICT_PIXI_REQUIRED.rawValue | AVIF_STRICT_CLAP_VALID.rawValue)
    decoder.pointee.imageSizeLimit = UInt32(min(ImageDecoder.maxPixels, Int(UInt32.max)))
    decoder.pointee.maxThreads = 1
    var result = avifDecoderSetIOMemory(decoder, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count)
    guard result == AVIF_RESULT_OK else { throw failure(result, "cannot read the file") }
    result = avifDecoderParse(decoder)
    guard result == AVIF_RESULT_OK else {
      if result == AVIF_RESULT_NOT_IMPLEMENTED {
        throw ImageError(
          file: file, kind: .unsupported, problem: "AVIF: \(String(cString: avifResultToString(result)))")
      }
      throw failure(result, "cannot read header")
    }
    let width = Int(decoder.pointee.image.pointee.width)
    let height = Int(decoder.pointee.image.pointee.height)
    try ImageDecoder.checkSize(width: width, height: height, file: file)
    result = avifDecoderNextImage(decoder)
    guard result == AVIF_RESULT_OK else { throw failure(result, "cannot decode the image") }
    let image = decoder.pointee.image!
    // Always RGBA, as Pillow asks for an image with alpha: libavif 0.11 asked for RGB of such an image
    // multiplies the colour by alpha.
    var rgb = avifRGBImage()
    avifRGBImageSetDefaults(&rgb, image)
    rgb.depth = 8
    rgb.format = AVIF_RGB_FORMAT_RGBA
    var rgba = [UInt8](repeating: 0, count: width * height * 4)
    result = rgba.withUnsafeMutableBufferPointer { out in
      rgb.pixels = out.baseAddress
      rgb.rowBytes = UInt32(width * 4)
      return avifImageYUVToRGB(image, &rgb)
    }
    guard result == AVIF_RESULT_OK else { throw failure(result, "cannot convert to RGB") }
    return RGBImage(width: width, height: height, droppingAlphaOf: rgba)
  }
}
