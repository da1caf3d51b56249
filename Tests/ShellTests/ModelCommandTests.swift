import FlrCheckpoints
import FlrCore
import FlrGenerate
import FlrImage
import XCTest

@testable import FlrShell

/// `load`, `caption`, `tokenize` and `features` through the shell on the tiny random Florence-2 of the
/// model fixtures (vocabulary 2,048, so prompts use only common words) with the real tokenizer. Each
/// result is compared with the engine called directly on the same input: this tests the shell's
/// plumbing (image batches, prompts, files); the engines' parity with transformers is tested in their
/// own targets.
final class ModelCommandTests: XCTestCase {
  static let prompt = "a photo of the man in the"
  static let images = ["photo_rocket.jpg", "photo_camera_gray.png", "bad_truncated.jpg", "photo_coffee_422.jpg"]

  private var folder: URL!
  private var out = CapturedOutput()
  private var err = CapturedOutput()
  private var session: Session!

  override func setUpWithError() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-model-\(getpid())-\(name.hashValue)")
    let model = try TinyModelFolder.create(at: folder, images: Self.images)
    out = CapturedOutput()
    err = CapturedOutput()
    session = Session(out: out.output, err: err.output)
    try run("load \(model.path)")
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

  private func run(_ text: String) throws { try Interpreter(session: session).run(text, name: "t.flr") }
  private func photo(_ name: String) -> String { folder.appendingPathComponent("photos/\(name)").path }

  /// The generator called directly on one image.
  private func directCaption(_ name: String, beams: Int, maxNewTokens: Int) throws -> String {
    let model = try XCTUnwrap(session.model)
    let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: photo(name)))
    let pixels = PixelValues.tensor(from: image).reshaped([1, 3, PixelValues.size, PixelValues.size])
    return try model.generator.caption(
      pixelValues: pixels, task: Self.prompt, beams: beams, maxNewTokens: maxNewTokens)[0]
  }

  func testLoadSetsThePromptAndAFailedLoadKeepsTheModel() throws {
    XCTAssertEqual(session.prompt, "flr(tiny)> ")
    XCTAssertThrowsError(try run("load \(folder.path)/missing")) {
      XCTAssertTrue(describeError($0).hasSuffix("still using \(self.folder.path)/tiny"), describeError($0))
    }
    XCTAssertEqual(session.model?.source, "\(folder.path)/tiny")
  }

  func testCaptionsMatchTheGeneratorAndSkipUnreadableImages() throws {
    try run("caption \(folder.path)/photos prompt=\"\(Self.prompt)\" beams=1 max_tokens=8")
    let expected = try ["photo_camera_gray.png", "photo_coffee_422.jpg", "photo_rocket.jpg"].map {
      "\(photo($0))\t\(try directCaption($0, beams: 1, maxNewTokens: 8))"
    }
    XCTAssertEqual(out.text, expected.joined(separator: "\n") + "\n")
    XCTAssertTrue(err.text.contains("caption: skipped \(photo("bad_truncated.jpg")): "), err.text)
    XCTAssertTrue(err.text.contains("caption: 3 captioned, 1 unreadable in"), err.text)
  }

  func testBatchesGiveTheSameCaptionsAsSingleImages() throws {
    try run("caption \(folder.path)/photos prompt=\"\(Self.prompt)\" beams=2 max_tokens=6 batch=1")
    let single = out.text
    out = CapturedOutput()
    session = Session(out: out.output, err: err.output)
    session.model = try XCTUnwrap(LoadedModel.load("\(folder.path)/tiny", revision: nil))
    try run("caption \(folder.path)/photos prompt=\"\(Self.prompt)\" beams=2 max_tokens=6 batch=3")
    XCTAssertEqual(out.text, single)
    XCTAssertEqual(out.text.split(separator: "\n").count, 3)
  }

  func testSaveAppendAndJSONLines() throws {
    let jsonl = folder.appendingPathComponent("c.jsonl").path
    try run(
      "set prompt=\"\(Self.prompt)\" beams=1 max_tokens=5; caption \(photo("photo_rocket.jpg")) save out=\(jsonl)")
    let caption = try directCaption("photo_rocket.jpg", beams: 1, maxNewTokens: 5)
    let captionFile = photo("photo_rocket.txt")
    XCTAssertEqual(try String(contentsOfFile: captionFile, encoding: .utf8), caption)
    XCTAssertEqual(
      try String(contentsOfFile: jsonl, encoding: .utf8),
      "{\"file\": \(jsonString(photo("photo_rocket.jpg"))), \"caption\": \(jsonString(caption))}\n")
    XCTAssertEqual(out.text, "", "with save or out= nothing goes to stdout")
    try run("caption \(photo("photo_rocket.jpg")) save")
    XCTAssertTrue(err.text.contains("caption: 0 captioned, 1 skipped"), err.text)
    try run("caption \(photo("photo_rocket.jpg")) save append")
    XCTAssertEqual(try String(contentsOfFile: captionFile, encoding: .utf8), caption + " " + caption)
    try run("caption \(photo("photo_rocket.jpg")) out=\(jsonl) skip_existing")
    XCTAssertEqual(
      try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n").count, 1, "resumed: nothing new")
  }

  func testTokenize() throws {
    let model = try XCTUnwrap(session.model)
    try run("tokenize \"A cat, on a mat.\"; tokenize \"A cat, on a mat.\" json")
    let ids = model.tokenizer.encode("A cat, on a mat.")
    let lines = out.text.split(separator: "\n").map(String.init)
    XCTAssertEqual(lines[0], "ids: " + ids.map(String.init).joined(separator: " "))
    XCTAssertEqual(lines[1], "tokens: " + (try model.tokenizer.tokenStrings(ids)).joined(separator: " "))
    XCTAssertEqual(lines[2], "count: \(ids.count) (with <s> and </s>)")
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[3].utf8)) as? [String: Any])
    XCTAssertEqual(object["text"] as? String, "A cat, on a mat.")
    XCTAssertEqual(object["ids"] as? [Int], ids)
    XCTAssertEqual(object["tokens"] as? [String], try model.tokenizer.tokenStrings(ids))
    let file = folder.appendingPathComponent("cap.txt").path
    try "two\nlines".write(toFile: file, atomically: true, encoding: .utf8)
    try run("tokenize file=\(file) json")
    let fromFile = try XCTUnwrap(
      JSONSerialization.jsonObject(with: Data(out.text.split(separator: "\n")[4].utf8)) as? [String: Any])
    XCTAssertEqual(fromFile["ids"] as? [Int], model.tokenizer.encode("two\nlines"))
  }

  func testFeaturesAreTheProjectedImageFeatures() throws {
    let path = folder.appendingPathComponent("f.safetensors").path
    try run(
      "features \(photo("photo_rocket.jpg")) \(photo("bad_truncated.jpg")) \(photo("photo_coffee_422.jpg")) out=\(path) batch=2"
    )
    let (tensors, metadata) = try SafetensorsReader.read(path: path)
    XCTAssertEqual(metadata["format"], "pt")
    XCTAssertEqual(tensors.map(\.name).sorted(), ["photo_coffee_422.jpg", "photo_rocket.jpg"])
    let model = try XCTUnwrap(session.model)
    for tensor in tensors {
      let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: photo(tensor.name)))
      let pixels = PixelValues.tensor(from: image).reshaped([1, 3, PixelValues.size, PixelValues.size])
      let direct = try model.model.imageFeatures(pixelValues: pixels)
      XCTAssertEqual(tensor.shape, Array(direct.shape.dropFirst()))
      // Batching must not change an image's features beyond float reassociation in the kernels.
      let written = try tensor.toFloat32().toArray(), expected = direct.toArray()
      let worst = zip(written, expected).map { abs($0 - $1) }.max() ?? 0
      XCTAssertLessThan(worst, 1e-4, tensor.name)
    }
    XCTAssertTrue(err.text.contains("features: 2 written"), err.text)
    XCTAssertTrue(err.text.contains("features: skipped"), err.text)
    // Decoding and resizing ran a batch ahead on the prefetch thread, as caption's do.
    XCTAssertTrue(err.text.contains("on the prefetch thread"), err.text)
  }
}
