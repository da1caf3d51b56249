// Decode, resize and normalise every fixture image and compare with Pillow / the PIL-backed CLIPImageProcessor.
import Foundation
import XCTest

@testable import FlrImage

final class PillowParityTests: XCTestCase {
  /// Decoded RGB must equal Pillow's `convert("RGB")` byte for byte (sha256 of all bytes, plus samples so a
  /// failure says where).
  func testDecodeMatchesPillow() throws {
    let fixtures = try ImageFixtures.load()
    XCTAssertGreaterThan(fixtures.images.count, 40)
    for record in fixtures.images {
      let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url(record.file))
      XCTAssertEqual(image.width, record.width, record.file)
      XCTAssertEqual(image.height, record.height, record.file)
      guard image.width == record.width && image.height == record.height else { continue }
      for s in record.decoded_samples {
        let (r, g, b) = image.pixel(x: s[1], y: s[0])
        XCTAssertEqual(
          [Int(r), Int(g), Int(b)], Array(s[2...]), "\(record.file) (\(record.mode)) at y=\(s[0]) x=\(s[1])")
      }
      XCTAssertEqual(SHA256.hex(image.pixels), record.decoded_sha256, "\(record.file) (\(record.mode)) decoded bytes")
    }
  }

  /// The 768x768 uint8 resize must equal Pillow's BICUBIC resize exactly: 0 differing bytes.
  func testResizeMatchesPillow() throws {
    let fixtures = try ImageFixtures.load()
    for record in fixtures.images {
      let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url(record.file))
      let resized = BicubicResize.florence(image)
      XCTAssertEqual(resized.width, 768)
      XCTAssertEqual(resized.height, 768)
      for s in record.resized_samples {
        let (r, g, b) = resized.pixel(x: s[1], y: s[0])
        XCTAssertEqual([Int(r), Int(g), Int(b)], Array(s[2...]), "\(record.file) resized at y=\(s[0]) x=\(s[1])")
      }
      XCTAssertEqual(SHA256.hex(resized.pixels), record.resized_sha256, "\(record.file) resized bytes")
    }
  }

  /// pixel_values within 1e-6 of the processor at the sampled positions (the bound; the arithmetic is the
  /// same float32/float64 sequence, so in practice they are equal), and the float64 sum of all 3x768x768 values
  /// within 1e-6 relative (summation order differs from numpy's pairwise sum).
  func testPixelValuesMatchProcessor() throws {
    let fixtures = try ImageFixtures.load()
    for record in fixtures.images {
      let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url(record.file))
      let tensor = PixelValues.tensor(from: image)
      XCTAssertEqual(tensor.shape, [3, 768, 768])
      for s in record.pixel_values_samples {
        let (c, y, x) = (Int(s[0]), Int(s[1]), Int(s[2]))
        let value = tensor.data[(c * 768 + y) * 768 + x]
        XCTAssertEqual(Double(value), s[3], accuracy: 1e-6, "\(record.file) pixel_values[\(c), \(y), \(x)]")
      }
      var sum = 0.0
      for i in 0..<tensor.count { sum += Double(tensor.data[i]) }
      XCTAssertEqual(sum, record.pixel_values_sum, accuracy: 1e-6 * max(1, abs(record.pixel_values_sum)), record.file)
    }
  }

  /// Every (channel, byte) → float32 value equals the processor's exactly (tolerance 0: the same IEEE operations,
  /// float64 multiply, cast, float32 subtract and divide).
  func testNormalizeTableIsExact() throws {
    let fixtures = try ImageFixtures.load()
    XCTAssertEqual(fixtures.normalize_table.count, 3)
    for c in 0..<3 {
      XCTAssertEqual(fixtures.normalize_table[c].count, 256)
      for v in 0..<256 {
        XCTAssertEqual(
          PixelValues.value(channel: c, byte: UInt8(v)), Float(fixtures.normalize_table[c][v]), "c=\(c) v=\(v)")
      }
    }
  }

  /// A 768x768 input is not resampled (Pillow returns a copy).
  func testSameSizeIsUntouched() throws {
    let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url("photo_coffee_768x768.jpg"))
    XCTAssertEqual(image.width, 768)
    XCTAssertEqual(BicubicResize.florence(image), image)
  }

  /// The helper that takes a cached uint8 768x768 image gives the same tensor as the full path.
  func testResizedHelperMatchesFullPath() throws {
    let image = try ImageDecoder.decode(contentsOf: ImageFixtures.url("photo_rocket.jpg"))
    let resized = BicubicResize.florence(image)
    let a = PixelValues.tensor(from: image)
    let b = PixelValues.tensor(hwc: resized.pixels, height: 768, width: 768)
    XCTAssertEqual(
      Array(UnsafeBufferPointer(start: a.data, count: a.count)),
      Array(UnsafeBufferPointer(start: b.data, count: b.count)))
  }
}
