import Foundation
import XCTest

@testable import FlrShell

/// The one overwrite rule: `save DIR`, like `save model DIR`, replaces an existing adapter only with `overwrite`.
final class OverwriteRuleTests: XCTestCase {
  func testSaveRefusesToReplaceAnAdapterWithoutOverwrite() throws {
    let fixture = try TrainingShellFixture(name: "overwrite-rule")
    defer { fixture.remove() }
    let t = TestSession()
    let folder = fixture.folder.appendingPathComponent("lora").path
    try t.run("load \(fixture.model.path)\nlora a rank=2\nsave \(folder)")
    let config = folder + "/adapter_config.json"
    let first = try Data(contentsOf: URL(fileURLWithPath: config))
    try t.run("lora b rank=3")
    XCTAssertThrowsError(try t.run("save \(folder)")) { error in
      XCTAssertTrue("\(error)".contains("already holds an adapter") && "\(error)".contains("overwrite"), "\(error)")
    }
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: config)), first, "the old adapter is untouched")
    try t.run("save \(folder) overwrite")
    XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: config)), first)
    // A folder without an adapter (logs, other files) is written into as before.
    let other = fixture.folder.appendingPathComponent("run")
    try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
    try "x".write(to: other.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
    try t.run("save \(other.path)")
    XCTAssertTrue(FileManager.default.fileExists(atPath: other.path + "/notes.txt"))
  }
}
