// Reads a PNG, JPEG, WebP, BMP, GIF, TIFF or AVIF file into 8-bit RGB exactly as Pillow's
// `Image.open(f).convert("RGB")` does (SPEC.md Appendix B). The format comes from the magic bytes, never from the
// file name.
import Foundation

public enum ImageFormat: String, Sendable {
  case png, jpeg, webp, bmp, gif, tiff, avif

  /// The formats' names, for messages.
  public static let names = "PNG, JPEG, WebP, BMP, GIF, TIFF or AVIF"

  /// The format the first bytes announce, or nil.
  public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
    func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
      guard bytes.count >= offset + magic.count else { return false }
      for (i, b) in magic.enumerated() where bytes[offset + i] != b { return false }
      return true
    }
    if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
    if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
    if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return .webp }
    if starts(Array("BM".utf8)) { return .bmp }
    if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .gif }
    // Pillow's TIFF prefixes: both byte orders, classic and BigTIFF, and the two swapped-magic variants it accepts.
    for magic: [UInt8] in [
      [0x4D, 0x4D, 0, 0x2A], [0x49, 0x49, 0x2A, 0], [0x4D, 0x4D, 0x2A, 0], [0x49, 0x49, 0, 0x2A],
      [0x4D, 0x4D, 0, 0x2B], [0x49, 0x49, 0x2B, 0],
    ] where starts(magic) {
      return .tiff
    }
    if starts(Array("ftyp".utf8), at: 4) {
      for brand in ["avif", "avis", "mif1", "msf1"] where starts(Array(brand.utf8), at: 8) { return .avif }
    }
    return nil
  }
}

public enum ImageDecoder {
  /// Largest image (width × height) any decoder accepts; larger files are refused before their pixels are
  /// allocated. Pillow's own guard (`Image.MAX_IMAGE_PIXELS`) only warns at 89 M and fails at 179 M.
  nonisolated(unsafe) public static var maxPixels = 100_000_000

  /// Decodes the file at `url`. Errors name the file.
  public static func decode(contentsOf url: URL) throws -> RGBImage {
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw ImageError(file: url.path, kind: .unreadable, problem: "cannot read file (\(error.localizedDescription))")
    }
    return try decode(data: data, file: url.path)
  }

  /// Decodes image bytes; `file` names them in errors.
  public static func decode(data: Data, file: String) throws -> RGBImage {
    try data.withUnsafeBytes { bytes in
      guard !bytes.isEmpty else { throw ImageError(file: file, kind: .notAnImage, problem: "file is empty") }
      guard let format = ImageFormat.sniff(bytes) else {
        throw ImageError(file: file, kind: .notAnImage, problem: "not a \(ImageFormat.names) image")
      }
      switch format {
      case .png: return try PNGDecoder.decode(bytes, file: file)
      case .jpeg: return try JPEGDecoder.decode(bytes, file: file)
      case .webp: return try WebPDecoder.decode(bytes, file: file)
      case .bmp: return try BMPDecoder.decode(bytes, file: file)
      case .gif: return try GIFDecoder.decode(bytes, file: file)
      case .tiff: return try TIFFDecoder.decode(bytes, file: file)
      case .avif: return try AVIFDecoder.decode(bytes, file: file)
      }
    }
  }

  /// The size checks every decoder makes from the header, before decoding.
  static func checkSize(width: Int, height: Int, file: String) throws {
    if width <= 0 || height <= 0 {
      throw ImageError(file: file, kind: .zeroSize, problem: "image has zero size (\(width)x\(height))")
    }
    if width.multipliedReportingOverflow(by: height).partialValue > maxPixels || width > 1 << 24 || height > 1 << 24 {
      throw ImageError(
        file: file, kind: .tooLarge,
        problem: "image is \(width)x\(height), above the limit of \(maxPixels) pixels (ImageDecoder.maxPixels)")
    }
  }
}
