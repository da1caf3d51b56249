import FlrGenerate
import FlrImage
import XCTest

@testable import FlrShell

/// The decoding options of `caption`, `compare` and `sample` reach the generator, on the tiny random
/// Florence-2 of the model fixtures with the real tokenizer (common words only: the vocabulary is 2,048).
/// Each shell result is compared with the generator called directly with the settings the options stand for;
/// the controls' parity with transformers is DecodingControlsTests' (GenerateTests).
final class DecodingOptionsTests: XCTestCase {
  static let prompt = "a photo of the man in the"
  static let images = ["photo_rocket.jpg", "photo_camera_gray.png", "photo_coffee_422.jpg"]

  private var folder: URL!
  private var out = CapturedOutput()
  private var err = CapturedOutput()
  private var session: Session!

  override func setUpWithError() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-decoding-\(getpid())-\(name.hashValue)")
    let model = try TinyModelFolder.create(at: folder, images: Self.images)
    session = Session(out: out.output, err: err.output)
    try run("load \(model.path); set prompt=\"\(Self.prompt)\"")
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

  private func run(_ text: String) throws { try Interpreter(session: session).run(text, name: "t.flr") }
  private func photo(_ name: String) -> String { folder.appendingPathComponent("photos/\(name)").path }

  private var consumed = 0

  /// Captions printed since the last call (FILE<TAB>CAPTION lines).
  private func captions() -> [String] {
    let text = out.text.dropFirst(consumed)
    consumed = out.text.count
    return text.split(separator: "\n").map { String($0.split(separator: "\t", maxSplits: 1).last ?? "") }
  }

  private func direct(_ name: String, _ settings: GenerationSettings) throws -> String {
    let model = try XCTUnwrap(session.model)
    let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: photo(name)))
    let pixels = PixelValues.tensor(from: image).reshaped([1, 3, PixelValues.size, PixelValues.size])
    return try model.generator.caption(pixelValues: pixels, task: Self.prompt, settings: settings)[0]
  }

  func testControlsReachTheGenerator() throws {
    let image = photo("photo_rocket.jpg")
    try run("caption \(image) beams=2 max_tokens=10")
    let plain = captions()
    try run(
      "caption \(image) beams=2 max_tokens=10 repetition_penalty=1.6 min_tokens=9 no_repeat_ngram=2 "
        + "length_penalty=2 bad_words=the,man")
    let controlled = captions()
    var settings = try XCTUnwrap(session.model).generator.settings.with(numBeams: 2, maxNewTokens: 10)
    settings.repetitionPenalty = 1.6
    settings.minNewTokens = 9
    settings.noRepeatNgramSize = 2
    settings.lengthPenalty = 2
    let tokenizer = try XCTUnwrap(session.model).tokenizer
    settings.badWordsIds = ["the", " the", "man", " man"].map { tokenizer.encode($0, addSpecialTokens: false) }
      .map { $0.map(Int32.init) }
    XCTAssertEqual(Set(settings.badWordsIds), Set(DecodingOptions.badWordsIds("the, man", tokenizer: tokenizer)))
    XCTAssertEqual(controlled, [try direct("photo_rocket.jpg", settings)])
    XCTAssertNotEqual(controlled, plain, "the controls change this caption")
  }

  func testStartBeginsEveryCaption() throws {
    try run(
      "caption \(photo("photo_rocket.jpg")) \(photo("photo_coffee_422.jpg")) beams=1 max_tokens=6 start=\"a photo of\"")
    let lines = captions()
    XCTAssertEqual(lines.count, 2)
    for line in lines { XCTAssertTrue(line.hasPrefix("a photo of"), line) }
    var settings = try XCTUnwrap(session.model).generator.settings.with(numBeams: 1, maxNewTokens: 6)
    settings.decoderPrefix = try XCTUnwrap(session.model).generator.decoderPrefix(captionStart: "a photo of")
    XCTAssertEqual(settings.decoderPrefix.first, 0, "<s> first, as the forced BOS token")
    XCTAssertEqual(lines[0], try direct("photo_rocket.jpg", settings))
    try run(
      "compare \(photo("photo_rocket.jpg")) with=base task=\"\(Self.prompt)\" beams=1 max_tokens=6 start=\"a photo of\""
    )
    XCTAssertEqual(out.text.split(separator: "\n").last.map(String.init), "  base: \(lines[0])")
  }

  func testSamplingIsSeededWhateverTheBatch() throws {
    let photos = folder.appendingPathComponent("photos").path
    try run("caption \(photos) sample seed=3 temperature=2 top_k=0 max_tokens=8 batch=1")
    let one = captions()
    try run("caption \(photos) sample seed=3 temperature=2 top_k=0 max_tokens=8 batch=3")
    XCTAssertEqual(captions(), one)
    try run("caption \(photos) sample seed=4 temperature=2 top_k=0 max_tokens=8")
    XCTAssertNotEqual(captions(), one)
    XCTAssertFalse(err.text.contains("sampling with seed="))
    try run("caption \(photos) sample max_tokens=2")
    XCTAssertTrue(err.text.contains("caption: sampling with seed="), err.text)
  }

  func testSamplingOptionsAreChecked() throws {
    let image = photo("photo_rocket.jpg")
    XCTAssertThrowsError(try run("caption \(image) temperature=0.5")) {
      XCTAssertTrue(describeError($0).contains("temperature= applies to sampling: add sample"), describeError($0))
    }
    XCTAssertThrowsError(try run("caption \(image) sample beams=3")) {
      XCTAssertTrue(describeError($0).contains("give beams=1"), describeError($0))
    }
    XCTAssertThrowsError(try run("caption \(image) top_p=1.5")) {
      XCTAssertTrue(describeError($0).contains("top_p=1.5: expected a number in 0..1"), describeError($0))
    }
  }

  func testSetDefaultsAppearInShow() throws {
    try run("set repetition_penalty=1.3 start=\"A photo\"; show settings")
    let text = out.text
    XCTAssertTrue(text.contains("repetition_penalty=1.3*"), text)
    XCTAssertTrue(text.contains("start=\"A photo\"*"), text)
    XCTAssertTrue(text.contains("beams=3 "), text)
    XCTAssertTrue(text.contains("no_repeat_ngram=model"), text)
  }
}
