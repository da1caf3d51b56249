import Foundation
import XCTest

@testable import FlrShell

/// Caption files as `dataset` and `tokenize` read them: one that is not UTF-8 is skipped and listed like an
/// unreadable image (`strict`: an error); a byte-order mark is dropped; other files are counted.
final class DatasetCaptionFileTests: XCTestCase {
  func testACaptionThatIsNotUTF8IsSkippedAndListed() throws {
    let fixture = try TrainingShellFixture(name: "dataset-utf8")
    defer { fixture.remove() }
    try Data([0x61, 0x20, 0xFF, 0x62]).write(to: fixture.data.appendingPathComponent("i1.txt"))
    try "x".write(to: fixture.data.appendingPathComponent("notes.md"), atomically: true, encoding: .utf8)
    let t = TestSession()
    try t.run("load \(fixture.model.path)\ndataset \(fixture.data.path)")
    XCTAssertTrue(t.errText.contains("3 images with captions"), t.errText)
    let listed = "skipped i1.png: unreadable caption (i1.txt: caption is not valid UTF-8 (byte 2: 0xff))"
    XCTAssertTrue(t.errText.contains(listed), t.errText)
    XCTAssertTrue(t.errText.contains("1 file of other types ignored (.md;"), t.errText)
    XCTAssertThrowsError(try t.run("dataset \(fixture.data.path) strict")) { error in
      XCTAssertTrue("\(error)".contains("unreadable caption"), "\(error)")
    }
  }

  func testTokenizeDropsAByteOrderMarkAsDatasetDoes() throws {
    let fixture = try TrainingShellFixture(name: "tokenize-bom")
    defer { fixture.remove() }
    let file = fixture.folder.appendingPathComponent("bom.txt")
    try Data([0xEF, 0xBB, 0xBF] + Array("a man".utf8)).write(to: file)
    let t = TestSession()
    try t.run("load \(fixture.model.path)\ntokenize file=\(file.path) json\ntokenize \"a man\" json")
    let lines = t.out.text.split(separator: "\n")
    XCTAssertEqual(lines.count, 2)
    XCTAssertEqual(lines.first, lines.last, "same text, same ids")
  }
}
