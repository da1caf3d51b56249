import FlrCheckpoints
import FlrModel
import XCTest

@testable import FlrShell

/// `save model DIR [quantized] [overwrite]` through the shell on the demo model (tiny weights, real tokenizer):
/// the folder holds the weights, the source's config and tokenizer files, and loads back into the shell;
/// refusals leave nothing behind. The numbers themselves are tested in FlrModelTests' ExportTests.
final class SaveModelTests: XCTestCase {
  static let demo = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/demo-tiny").standardized.path

  private var folder: String!
  private var out = CapturedOutput()
  private var err = CapturedOutput()
  private var session: Session!

  override func setUpWithError() throws {
    folder = NSTemporaryDirectory() + "flr-save-model-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    out = CapturedOutput()
    err = CapturedOutput()
    session = Session(out: out.output, err: err.output)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

  private func run(_ text: String) throws { try Interpreter(session: session).run(text, name: "t.flr") }

  func testSaveModelWritesALoadableSnapshot() throws {
    try run("load \(Self.demo)\nlora mine rank=2 targets=q_proj,fc1\nsave model \(folder!)/m")
    XCTAssertTrue(err.text.contains("saved model to \(folder!)/m: with mine merged in"), err.text)
    let files = try FileManager.default.contentsOfDirectory(atPath: folder + "/m").sorted()
    XCTAssertEqual(
      files,
      ["config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"])
    XCTAssertEqual(
      FileManager.default.contents(atPath: folder + "/m/tokenizer.json"),
      FileManager.default.contents(atPath: Self.demo + "/tokenizer.json"))
    // The same command again is refused and names the way out; `overwrite` replaces.
    XCTAssertThrowsError(try run("save model \(folder!)/m")) { XCTAssertTrue("\($0)".contains("overwrite"), "\($0)") }
    try run("save model \(folder!)/m overwrite")
    // The folder loads back as a model (weights, config and tokenizer).
    try run("load \(folder!)/m")
    XCTAssertEqual(session.model?.folder, folder + "/m")
  }

  func testQuantizedNeedsAnNF4ModelAndNoActiveAdapter() throws {
    try run("load \(Self.demo)")
    XCTAssertThrowsError(try run("save model \(folder!)/q quantized")) {
      XCTAssertTrue("\($0)".contains("quantize=nf4"), "\($0)")
    }
    try run("load \(Self.demo) quantize=nf4\nlora a targets=q_proj")
    XCTAssertThrowsError(try run("save model \(folder!)/q quantized")) {
      XCTAssertTrue("\($0)".contains("requantize"), "\($0)")
    }
    XCTAssertThrowsError(try run("save \(folder!)/adapter quantized")) {
      XCTAssertTrue("\($0)".contains("save model"), "\($0)")
    }
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [])
    try run("use none\nsave model \(folder!)/q quantized")
    XCTAssertTrue(err.text.contains("Linears as bitsandbytes NF4"), err.text)
    try run("load \(folder!)/q")
    XCTAssertEqual(session.model?.model.nf4Layers().isEmpty, false)
  }
}
