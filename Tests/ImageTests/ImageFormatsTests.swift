// BMP, GIF, TIFF and AVIF: decoded RGB equals Pillow's convert("RGB") byte for byte (Tests/Fixtures/image-formats,
// written by scripts/fixtures/image_formats.py), and damaged or hostile files give one ImageError naming the file.
import Foundation
import XCTest

@testable import FlrImage

final class ImageFormatsTests: XCTestCase {
  struct Expected: Decodable {
    struct Record: Decodable {
      let file: String
      let mode: String
      let width: Int
      let height: Int
      let rgb: String  // base64 of height x width x 3 bytes
    }
    struct Refused: Decodable {
      let file: String
      let kind: String
    }
    let images: [Record]
    let errors: [Refused]
  }

  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/image-formats").standardized

  func load() throws -> Expected {
    try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.folder.appendingPathComponent("expected.json")))
  }

  /// Tolerance 0: every byte of every fixture, in every format and mode, equals Pillow's.
  func testDecodeMatchesPillowExactly() throws {
    let expected = try load()
    for format in ["bmp", "gif", "tiff", "avif"] {
      XCTAssertGreaterThanOrEqual(expected.images.filter { $0.file.hasSuffix(format) }.count, 4, format)
    }
    for record in expected.images {
      let image: RGBImage
      do {
        image = try ImageDecoder.decode(contentsOf: Self.folder.appendingPathComponent(record.file))
      } catch {
        XCTFail("\(record.file) (\(record.mode)): \(error)")
        continue
      }
      XCTAssertEqual([image.width, image.height], [record.width, record.height], record.file)
      let want = [UInt8](Data(base64Encoded: record.rgb)!)
      guard image.pixels.count == want.count else { continue }
      let differing = zip(image.pixels, want).filter { $0 != $1 }.count
      if let first = zip(image.pixels, want).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
        let pixel = first.offset / 3
        XCTFail(
          "\(record.file) (\(record.mode)): \(differing) bytes differ; first at x=\(pixel % record.width) "
            + "y=\(pixel / record.width): \(first.element.0) vs Pillow \(first.element.1)")
      }
    }
  }

  func testDamagedFilesGiveOneClearError() throws {
    let expected = try load()
    XCTAssertGreaterThanOrEqual(expected.errors.count, 15)
    for bad in expected.errors {
      let url = Self.folder.appendingPathComponent(bad.file)
      do {
        let image = try ImageDecoder.decode(contentsOf: url)
        XCTFail("\(bad.file) decoded to \(image.width)x\(image.height) instead of failing")
      } catch let error as ImageError {
        XCTAssertEqual("\(error.kind)", bad.kind, "\(bad.file): \(error)")
        XCTAssertTrue(error.description.hasPrefix(url.path + ": "), "message does not name the file: \(error)")
      }
    }
  }

  /// Every prefix of a valid file is refused or decodes to the full image: never a crash or a partial image.
  func testEveryTruncationIsRefused() throws {
    for file in [
      "bmp_rgb24.bmp", "bmp_rle8.bmp", "bmp_rle4.bmp", "bmp_palette4.bmp", "gif_interlaced.gif", "gif_animation.gif",
      "tiff_rgb_lzw.tiff", "tiff_gray16.tiff", "tiff_rgb_jpeg.tiff", "tiff_tiled_rgb.tiff", "tiff_planar_rgba.tiff",
      "avif_lossy_420.avif",
    ] {
      let data = try Data(contentsOf: Self.folder.appendingPathComponent(file))
      let full = try ImageDecoder.decode(data: data, file: file)
      for cut in stride(from: 0, to: data.count - 1, by: max(1, data.count / 61)) {
        if let image = try? ImageDecoder.decode(data: data.prefix(cut), file: file) {
          XCTAssertEqual(image, full, "\(file) cut at \(cut) of \(data.count) decoded to a different image")
        }
      }
    }
  }

  /// Hostile headers: each of the first bytes of a file (the whole header for BMP and GIF, header and tags for
  /// these TIFFs) set to extreme values gives an ImageError naming the file or a well-formed image, and no decode
  /// hands back more pixels than the limit (lowered here so that a missed size check would show).
  func testHostileHeadersNeverCrash() throws {
    let saved = ImageDecoder.maxPixels
    defer { ImageDecoder.maxPixels = saved }
    ImageDecoder.maxPixels = 4096
    let files = [
      "bmp_rgb24.bmp", "bmp_palette8.bmp", "bmp_rle8.bmp", "bmp_os2_palette4.bmp", "bmp_v5_bitfields_rgba.bmp",
      "gif_offset_frame_transparent.gif", "gif_interlaced_by_hand.gif", "tiff_palette4.tiff", "tiff_rgb16_be.tiff",
      "tiff_gray4.tiff", "tiff_tiled_gray4.tiff", "tiff_planar_rgba.tiff",
    ]
    for file in files {
      let original = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(file)))
      let span = file.hasSuffix(".tiff") ? original.count : min(80, original.count)
      for offset in 2..<span {
        for value: UInt8 in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
          var bytes = original
          bytes[offset] = value
          do {
            let image = try ImageDecoder.decode(data: Data(bytes), file: file)
            XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
            XCTAssertLessThanOrEqual(image.width * image.height, 4096)
          } catch let error as ImageError {
            XCTAssertTrue(error.description.hasPrefix(file + ": "), "\(error)")
          }
        }
      }
    }
  }

  func testFormatsAreSniffedFromBytesNotNames() throws {
    let data = try Data(contentsOf: Self.folder.appendingPathComponent("gif_palette.gif"))
    XCTAssertEqual(try ImageDecoder.decode(data: data, file: "looks-like.png").width, 13)
    let formats = try ["bmp_rgb24.bmp", "gif_palette.gif", "tiff_rgb.tiff", "avif_lossy_420.avif"].map { file in
      try Data(contentsOf: Self.folder.appendingPathComponent(file)).withUnsafeBytes { ImageFormat.sniff($0) }
    }
    XCTAssertEqual(formats, [.bmp, .gif, .tiff, .avif])
  }
}
