import Foundation
import XCTest

/// scripts/caption-sharded: three flr processes on the tiny model, each captioning shard=I/3 of a folder (every
/// format flr reads, a name that needs JSON escaping, an unreadable file), merged in input order. The merge must
/// equal one unsharded run's out= file line for line; a part left by a killed run is resumed, not redone.
final class CaptionShardedTests: XCTestCase {
  static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  @discardableResult
  func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = Self.repo
    let error = Pipe()
    process.standardError = error
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: err, as: UTF8.self))
  }

  func testThreeShardsMergeToTheUnshardedRun() throws {
    let binary = try XCTUnwrap(ProcessTests.binary, "flr binary not found; run `swift build` first").path
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("flr-sharded-\(UUID().uuidString)")
    let images = root.appendingPathComponent("images")
    try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(at: root) }
    let fixtures = Self.repo.appendingPathComponent("Tests/Fixtures")
    for (source, name) in [
      ("images/photo_astronaut_444.jpg", "photo.jpg"), ("images/png_rgb8.png", "png_rgb8.png"),
      ("images/bad_truncated.png", "broken.png"), ("image-formats/gif_palette.gif", "gif.gif"),
      ("image-formats/bmp_rgb24.bmp", "bmp.bmp"), ("image-formats/tiff_rgb_lzw.tiff", "tiff.tiff"),
      ("images/synth_5x3.png", "a \"quoted\"\tname.png"),
    ] {
      try FileManager.default.copyItem(
        at: fixtures.appendingPathComponent(source), to: images.appendingPathComponent(name))
    }
    let model = fixtures.appendingPathComponent("demo-tiny").path
    let single = root.appendingPathComponent("single.jsonl").path
    let unsharded = try run(
      binary, ["-c", "load \(model); caption \(images.path) beams=1 max_tokens=5 out=\(single)"])
    XCTAssertEqual(unsharded.status, 0, unsharded.err)
    let expected = try String(contentsOfFile: single, encoding: .utf8).split(separator: "\n").map(String.init)
    XCTAssertEqual(expected.count, 6, "six readable images")

    // A killed earlier run of shard 2 (sorted positions 2 and 5: bmp.bmp, photo.jpg) left one finished line, marked
    // so that a recomputed caption would show, and a cut-off one.
    let merged = root.appendingPathComponent("merged.jsonl").path
    let parts = root.appendingPathComponent("parts")
    try FileManager.default.createDirectory(at: parts, withIntermediateDirectories: true)
    let bmp = try XCTUnwrap(expected.firstIndex { $0.contains("/bmp.bmp\"") })
    let earlier = "{\"file\": \"\(images.path)/bmp.bmp\", \"caption\": \"from the earlier run\"}"
    try (earlier + "\n{\"file\": \"\(images.path)/pho").write(
      to: parts.appendingPathComponent("part-2-of-3.jsonl"), atomically: true, encoding: .utf8)

    let script = Self.repo.appendingPathComponent("scripts/caption-sharded").path
    let sharded = try run(
      "/bin/bash",
      [
        script, "--flr", binary, "-n", "3", "-t", "1", "-o", merged, "--parts", parts.path, "-m", model, "--",
        images.path, "beams=1", "max_tokens=5",
      ])
    XCTAssertEqual(sharded.status, 0, sharded.err)
    XCTAssertTrue(sharded.err.contains("6 captions merged, 1 images without a caption"), sharded.err)
    var want = expected
    want[bmp] = earlier
    XCTAssertEqual(try String(contentsOfFile: merged, encoding: .utf8), want.joined(separator: "\n") + "\n")
    let part2 = try String(contentsOf: parts.appendingPathComponent("part-2-of-3.jsonl"), encoding: .utf8)
    let photo = try XCTUnwrap(expected.first { $0.contains("/photo.jpg\"") })
    XCTAssertEqual(part2, earlier + "\n" + photo + "\n", "the cut-off line is dropped and photo.jpg captioned once")

    // caption-sharded sets save/out=/shard= itself.
    let refused = try run("/bin/bash", [script, "-n", "2", "-o", merged, "-m", model, "--", images.path, "save"])
    XCTAssertEqual(refused.status, 2)
    XCTAssertTrue(refused.err.contains("'save' is set by caption-sharded"), refused.err)
  }
}
