// Refused inputs: one ImageError naming the file, never a crash or a partly decoded image.
import Foundation
import XCTest

@testable import FlrImage

final class BadInputTests: XCTestCase {
  func testBadFilesThrowOneClearError() throws {
    let fixtures = try ImageFixtures.load()
    XCTAssertGreaterThanOrEqual(fixtures.errors.count, 9)
    for bad in fixtures.errors {
      let url = ImageFixtures.url(bad.file)
      do {
        let image = try ImageDecoder.decode(contentsOf: url)
        XCTFail("\(bad.file) decoded to \(image.width)x\(image.height) instead of failing")
      } catch let error as ImageError {
        XCTAssertEqual("\(error.kind)", bad.kind, "\(bad.file): \(error)")
        XCTAssertTrue(error.description.contains(bad.file), "message does not name the file: \(error)")
      }
    }
  }

  func testMissingFile() {
    XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: "/nonexistent/x.png"))) { error in
      XCTAssertEqual((error as? ImageError)?.kind, .unreadable)
      XCTAssertTrue("\(error)".contains("/nonexistent/x.png"))
    }
  }

  func testPixelLimitIsASetting() throws {
    let saved = ImageDecoder.maxPixels
    defer { ImageDecoder.maxPixels = saved }
    ImageDecoder.maxPixels = 90 * 60 - 1
    for file in ["png_rgb8.png", "png_gray16.png", "webp_lossy_alpha.webp"] {
      XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: ImageFixtures.url(file))) { error in
        XCTAssertEqual((error as? ImageError)?.kind, .tooLarge, "\(file): \(error)")
      }
    }
    XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: ImageFixtures.url("photo_rocket.jpg"))) { error in
      XCTAssertEqual((error as? ImageError)?.kind, .tooLarge)
    }
    ImageDecoder.maxPixels = 90 * 60
    XCTAssertNoThrow(try ImageDecoder.decode(contentsOf: ImageFixtures.url("png_rgb8.png")))
  }

  /// Every prefix of a valid file is refused (or, past the last scan, decodes to the full image): the decoders
  /// never hand back a partly decoded image.
  func testEveryTruncationIsRefused() throws {
    for file in ["jpeg_noise_77x123.jpg", "png_interlaced_rgb.png", "webp_lossless_alpha.webp"] {
      let data = try Data(contentsOf: ImageFixtures.url(file))
      let full = try ImageDecoder.decode(data: data, file: file)
      for cut in stride(from: 0, to: data.count - 1, by: max(1, data.count / 97)) {
        if let image = try? ImageDecoder.decode(data: data.prefix(cut), file: file) {
          XCTAssertEqual(image, full, "\(file) cut at \(cut) of \(data.count) decoded to a different image")
        }
      }
    }
  }
}
