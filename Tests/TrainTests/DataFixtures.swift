// Shared helpers for the data and logging tests: fixture JSON (Tests/Fixtures/data, written by
// scripts/fixtures/data.py), the committed tokenizer, image files from Tests/Fixtures/images, temp folders.
import FlrImage
import FlrTokenizer
import Foundation
import XCTest

@testable import FlrTrain

enum DataFixtures {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
    "../Fixtures"
  )
  .standardized
  static let folder = fixtures.appendingPathComponent("data")
  static let images = fixtures.appendingPathComponent("images")

  static let tokenizer: BartTokenizer = {
    do { return try BartTokenizer(folder: fixtures.appendingPathComponent("tokenizer")) } catch {
      fatalError("cannot load fixture tokenizer: \(error)")
    }
  }()

  static func json(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: folder.appendingPathComponent(name))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], name)
  }

  static func bytes(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: folder.appendingPathComponent(name)))
  }

  /// A Python repr string ("0.1", "-0.0", "inf", "nan") as a Double.
  static func double(_ value: Any?) throws -> Double {
    let text = try XCTUnwrap(value as? String, "expected a repr string, got \(String(describing: value))")
    return try XCTUnwrap(Double(text), text)
  }

  /// resized_sha256 of an image fixture (Pillow's 768x768 BICUBIC resize, scripts/fixtures/images.py).
  static func resizedSHA256(_ file: String) throws -> String {
    let data = try Data(contentsOf: images.appendingPathComponent("expected.json"))
    let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let list = try XCTUnwrap(root["images"] as? [[String: Any]])
    let entry = try XCTUnwrap(list.first { $0["file"] as? String == file }, file)
    return try XCTUnwrap(entry["resized_sha256"] as? String)
  }
}

/// A temporary folder removed when the test ends.
final class TempFolder {
  let url: URL

  init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("flr-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(at: url) }

  /// Copies an image fixture to `path` (relative), making subfolders.
  @discardableResult
  func image(_ path: String, from fixture: String) throws -> URL {
    let target = url.appendingPathComponent(path)
    try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
    try FileManager.default.copyItem(at: DataFixtures.images.appendingPathComponent(fixture), to: target)
    return target
  }

  @discardableResult
  func text(_ path: String, _ content: String) throws -> URL { try bytes(path, Array(content.utf8)) }

  @discardableResult
  func bytes(_ path: String, _ content: [UInt8]) throws -> URL {
    let target = url.appendingPathComponent(path)
    try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(content).write(to: target)
    return target
  }
}
