import Foundation
import XCTest

@testable import FlrShell

/// What `caption` reports and refuses: a run that captions nothing fails, an empty caption writes no file,
/// contradicting flags are refused before anything is written, files of other types are counted.
final class CaptionOutcomeTests: XCTestCase {
  /// Words inside the tiny model's 2,048-id vocabulary.
  static let prompt = "a photo of the man in the"
  private var fixture: TrainingShellFixture!
  private var t: TestSession!

  override func setUpWithError() throws {
    fixture = try TrainingShellFixture(name: "caption-outcome-\(name.hashValue)")
    t = TestSession()
    try t.run("load \(fixture.model.path)")
  }

  override func tearDown() { fixture?.remove() }

  private func copyImage(_ name: String, to file: String) throws -> String {
    let path = fixture.folder.appendingPathComponent(file).path
    try FileManager.default.copyItem(
      atPath: TrainingShellFixture.fixtures.appendingPathComponent("images/\(name)").path, toPath: path)
    return path
  }

  func testEveryImageUnreadableFails() throws {
    let bad = try copyImage("bad_truncated.jpg", to: "bad.jpg")
    XCTAssertThrowsError(try t.run("caption \(bad) max_tokens=3 prompt=\"\(Self.prompt)\"")) { error in
      XCTAssertTrue("\(error)".contains("nothing captioned") && "\(error)".contains("1 unreadable"), "\(error)")
    }
    // One good image is enough for success.
    try t.run("caption \(bad) \(fixture.data.path)/i0.jpg max_tokens=3 beams=1 prompt=\"\(Self.prompt)\"")
    XCTAssertTrue(t.errText.contains("1 captioned, 1 unreadable"), t.errText)
  }

  func testAnEmptyCaptionWritesNoFile() throws {
    // One new token is the forced <s>: the caption decodes to "".
    let image = try copyImage("photo_rocket.jpg", to: "rocket.jpg")
    XCTAssertThrowsError(try t.run("caption \(image) save max_tokens=1 beams=1 prompt=\"\(Self.prompt)\"")) { error in
      XCTAssertTrue("\(error)".contains("nothing captioned"), "\(error)")
    }
    XCTAssertTrue(t.errText.contains("the caption is empty; no caption file written"), t.errText)
    XCTAssertFalse(FileManager.default.fileExists(atPath: fixture.folder.appendingPathComponent("rocket.txt").path))
  }

  func testContradictingFlagsAreRefusedBeforeWriting() throws {
    let image = try copyImage("photo_rocket.jpg", to: "rocket.jpg")
    let captionFile = fixture.folder.appendingPathComponent("rocket.txt")
    try "old".write(to: captionFile, atomically: true, encoding: .utf8)
    for flags in ["save overwrite append", "save append skip_existing", "save overwrite skip_existing"] {
      XCTAssertThrowsError(try t.run("caption \(image) \(flags) max_tokens=3 prompt=\"\(Self.prompt)\""), flags) {
        error in
        XCTAssertTrue("\(error)".contains("contradict"), "\(error)")
      }
    }
    XCTAssertEqual(try String(contentsOf: captionFile, encoding: .utf8), "old")
  }

  func testFilesOfOtherTypesAreCounted() throws {
    let folder = fixture.folder.appendingPathComponent("mixed")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    _ = try copyImage("photo_rocket.jpg", to: "mixed/a.jpg")
    for other in ["b.psd", "c.heic", "a.txt"] {
      try "x".write(to: folder.appendingPathComponent(other), atomically: true, encoding: .utf8)
    }
    try t.run("caption \(folder.path) dry_run")
    XCTAssertTrue(
      t.errText.contains("2 files of other types ignored (.heic, .psd; accepted: \(ImagePaths.extensionList))"),
      t.errText)
    let features = fixture.folder.appendingPathComponent("features.safetensors").path
    try t.run("features \(folder.path) out=\(features)")
    XCTAssertTrue(t.errText.contains("features: 2 files of other types ignored (.heic, .psd;"), t.errText)
  }
}
