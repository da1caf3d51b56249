// Writes a Canvas as an 8-bit RGB PNG through libpng's simplified write API (png_image_write_to_file), which
// reports errors in the png_image rather than by longjmp, so it is safe to call from Swift. The file is written
// beside the destination and renamed into place: a failed write leaves no half PNG.
import CPNG
import Foundation

public enum PNGWriter {
  public struct WriteError: Error, CustomStringConvertible {
    public let description: String
  }

  public static func write(_ canvas: Canvas, to url: URL) throws {
    let temporary = url.deletingLastPathComponent().appendingPathComponent(
      ".\(url.lastPathComponent).tmp-\(getpid())")
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    image.width = UInt32(canvas.width)
    image.height = UInt32(canvas.height)
    image.format = UInt32(PNG_FORMAT_RGB)
    let ok = canvas.pixels.withUnsafeBytes { bytes in
      png_image_write_to_file(&image, temporary.path, 0, bytes.baseAddress, Int32(canvas.width * 3), nil)
    }
    guard ok != 0 else {
      let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      png_image_free(&image)
      try? FileManager.default.removeItem(at: temporary)
      throw WriteError(description: "cannot write \(url.path): \(message)")
    }
    guard rename(temporary.path, url.path) == 0 else {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(at: temporary)
      throw WriteError(description: "cannot write \(url.path): \(reason)")
    }
  }
}
