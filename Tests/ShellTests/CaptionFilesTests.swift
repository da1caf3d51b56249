import XCTest

@testable import FlrShell

/// The caption command's file handling, on a scratch folder of empty "images" (listing goes by
/// extension; decoding is FlrImage's and is tested there).
final class CaptionFilesTests: XCTestCase {
  private var folder: URL!

  override func setUpWithError() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-caption-\(getpid())-\(name.hashValue)")
    try? FileManager.default.removeItem(at: folder)
    try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
    for file in ["b.jpg", "a.PNG", "c.webp", "d.jpeg", "notes.txt", ".hidden.jpg", "sub/e.jpg"] {
      XCTAssertTrue(FileManager.default.createFile(atPath: folder.appendingPathComponent(file).path, contents: Data()))
    }
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

  private func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  func testFoldersGlobsAndFilesAreSortedAndUnique() throws {
    XCTAssertEqual(
      try ImagePaths.expand([folder.path], recursive: false), ["a.PNG", "b.jpg", "c.webp", "d.jpeg"].map(path))
    XCTAssertEqual(try ImagePaths.expand([folder.path], recursive: true).last, path("sub/e.jpg"))
    XCTAssertEqual(
      try ImagePaths.expand([path("*.jp*g"), path("b.jpg")], recursive: false), [path("b.jpg"), path("d.jpeg")])
    XCTAssertEqual(try ImagePaths.expand([path("*")], recursive: false).count, 5, "a glob's folder match is listed")
    XCTAssertThrowsError(try ImagePaths.expand([path("missing.jpg")], recursive: false)) {
      XCTAssertEqual(describeError($0), "no such file or folder: \(self.path("missing.jpg"))")
    }
    XCTAssertThrowsError(try ImagePaths.expand([path("*.gif")], recursive: false)) {
      XCTAssertEqual(describeError($0), "no images match \(self.path("*.gif"))")
    }
  }

  func testShardsPartitionTheSortedList() {
    let paths = (1...10).map { "img\($0)" }
    var union: [String] = []
    for index in 1...3 { union += ImagePaths.shard(paths, index: index, count: 3) }
    XCTAssertEqual(union.sorted(), paths.sorted())
    XCTAssertEqual(ImagePaths.shard(paths, index: 2, count: 3), ["img2", "img5", "img8"])
    XCTAssertNil(ImagePaths.parseShard("0/3"))
    XCTAssertNil(ImagePaths.parseShard("3"))
    XCTAssertTrue(ImagePaths.parseShard("3/3")! == (3, 3))
  }

  func testSaveRulesAsTheSeedCaptioner() throws {
    let image = path("b.jpg")
    XCTAssertEqual(CaptionFiles.captionPath(for: image, ext: ".txt"), path("b.txt"))
    XCTAssertEqual(CaptionFiles.captionPath(for: path("x.tar.jpg"), ext: ".caption"), path("x.tar.caption"))
    XCTAssertEqual(CaptionFiles.rule(for: image, ext: ".txt", overwrite: false, append: false), .write)
    try CaptionFiles.save("first", for: image, ext: ".txt", rule: .write)
    XCTAssertEqual(try String(contentsOfFile: path("b.txt"), encoding: .utf8), "first")
    XCTAssertEqual(CaptionFiles.rule(for: image, ext: ".txt", overwrite: false, append: false), .skipExisting)
    XCTAssertEqual(CaptionFiles.rule(for: image, ext: ".txt", overwrite: true, append: false), .write)
    XCTAssertEqual(CaptionFiles.rule(for: image, ext: ".txt", overwrite: true, append: true), .append, "append wins")
    try CaptionFiles.save("second", for: image, ext: ".txt", rule: .append)
    XCTAssertEqual(try String(contentsOfFile: path("b.txt"), encoding: .utf8), "first second")
    try CaptionFiles.save("third", for: image, ext: ".txt", rule: .write)
    XCTAssertEqual(try String(contentsOfFile: path("b.txt"), encoding: .utf8), "third")
  }

  func testJSONLinesAreFlushedAndResumable() throws {
    let out = path("captions.jsonl")
    do {
      let log = try CaptionLog(path: out, resume: false)
      try log.append(file: "a \"q\".jpg", caption: "line\nbreak\ttab é")
      // Readable by a JSON parser before the log is closed: each line is written through.
      let text = try String(contentsOfFile: out, encoding: .utf8)
      XCTAssertEqual(text, "{\"file\": \"a \\\"q\\\".jpg\", \"caption\": \"line\\nbreak\\ttab é\"}\n")
      let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String]
      XCTAssertEqual(object?["caption"], "line\nbreak\ttab é")
    }
    // A run killed mid-line: the partial line is cut, finished ones are known.
    let handle = try XCTUnwrap(FileHandle(forWritingAtPath: out))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data("{\"file\": \"half".utf8))
    try handle.close()
    let resumed = try CaptionLog(path: out, resume: true)
    XCTAssertEqual(resumed.done, ["a \"q\".jpg"])
    try resumed.append(file: "b.jpg", caption: "x")
    let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(lines.count, 2)
    XCTAssertEqual(lines[1], "{\"file\": \"b.jpg\", \"caption\": \"x\"}")
    // Without resume the file starts over.
    _ = try CaptionLog(path: out, resume: false)
    XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "")
  }

  func testDryRunAppliesShardAndSkipRules() throws {
    let captured = CapturedOutput(), errors = CapturedOutput()
    let session = Session(out: captured.output, err: errors.output)
    try CaptionFiles.save("old", for: path("a.PNG"), ext: ".txt", rule: .write)
    try Interpreter(session: session).run("caption \(folder.path) save dry_run", name: "t")
    XCTAssertEqual(captured.text, ["b.jpg", "c.webp", "d.jpeg"].map(path).joined(separator: "\n") + "\n")
    XCTAssertEqual(errors.text, "caption: 3 of 4 images to caption, 1 have caption files\n")
    let shard = CapturedOutput()
    try Interpreter(session: Session(out: shard.output, err: errors.output)).run(
      "caption \(folder.path) shard=2/2 dry_run", name: "t")
    XCTAssertEqual(shard.text, ["b.jpg", "d.jpeg"].map(path).joined(separator: "\n") + "\n")
  }

  func testCaptionWithoutAModelSaysSo() {
    let session = Session(out: CapturedOutput().output, err: CapturedOutput().output)
    XCTAssertThrowsError(try Interpreter(session: session).run("caption \(folder.path)", name: "t")) {
      XCTAssertEqual(describeError($0), "caption: no model loaded (load MODEL first)")
    }
    XCTAssertThrowsError(try Interpreter(session: session).run("caption \(folder.path) overwrite", name: "t")) {
      XCTAssertEqual(describeError($0), "caption: overwrite only applies with save")
    }
  }
}
