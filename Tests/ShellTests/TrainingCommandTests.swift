import Foundation
import XCTest

@testable import FlrShell

/// End to end through the shell interpreter on the tiny random Florence-2: a `.flr` script loads the model,
/// a 4-image dataset, creates a LoRA, trains, samples and saves; then the image files are deleted and a second
/// `lora` with another rank and a second `train` run in the same session: no image file is read again (a read
/// would fail and be reported as a skipped image).
final class TrainingCommandTests: XCTestCase {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures").standardized
  static let captions = [
    ("photo_rocket.jpg", "a man in a red car on the road"),
    ("photo_camera_gray.png", "the big house at home with one man"),
    ("photo_coffee_422.jpg", "a small photo of the man and the car"),
    ("photo_chelsea_lossy.webp", "one big road in the house"),
  ]

  func testScriptTrainsSamplesSavesAndRetrainsWithoutReadingImages() throws {
    let fm = FileManager.default
    let folder = fm.temporaryDirectory.appendingPathComponent("flr-train-e2e-\(getpid())")
    try? fm.removeItem(at: folder)
    defer { try? fm.removeItem(at: folder) }
    let model = folder.appendingPathComponent("tiny"), data = folder.appendingPathComponent("data")
    try fm.createDirectory(at: model, withIntermediateDirectories: true)
    try fm.createDirectory(at: data, withIntermediateDirectories: true)
    let tiny = Self.fixtures.appendingPathComponent("model/tiny-original-safetensors")
    for file in ["config.json", "model.safetensors"] {
      try fm.createSymbolicLink(
        at: model.appendingPathComponent(file), withDestinationURL: tiny.appendingPathComponent(file))
    }
    try fm.createSymbolicLink(
      at: model.appendingPathComponent("tokenizer.json"),
      withDestinationURL: Self.fixtures.appendingPathComponent("tokenizer/tokenizer.json"))
    for (i, (image, caption)) in Self.captions.enumerated() {
      let ext = (image as NSString).pathExtension
      try fm.copyItem(
        at: Self.fixtures.appendingPathComponent("images/\(image)"), to: data.appendingPathComponent("i\(i).\(ext)"))
      try caption.write(to: data.appendingPathComponent("i\(i).txt"), atomically: true, encoding: .utf8)
    }
    let out = folder.appendingPathComponent("out")
    let prompt = "\"a photo of the man in the\""
    let script = """
      load \(model.path)
      dataset \(data.path)
      lora first rank=4 seed=1
      train epochs=3 lr=0.05 no_dropout prompt=\(prompt) out=\(out.path) name=run log=all save_every_epochs=2
      sample n=2 task=\(prompt) beams=1
      save first \(out.path)/saved
      """
    let stdout = CapturedOutput(), stderr = CapturedOutput()
    let session = Session(out: stdout.output, err: stderr.output)
    let interpreter = Interpreter(session: session)
    try interpreter.run(script, name: "e2e.flr")
    let text = stdout.text
    XCTAssertEqual(text.components(separatedBy: "\n").filter { $0.hasPrefix("epoch ") }.count, 3, text)
    XCTAssertEqual(text.components(separatedBy: "  truth: ").count - 1, 2, text)
    for file in [
      "run/adapter_model.safetensors", "run/adapter_config.json", "run/epoch-2/adapter_model.safetensors",
      "run/logs/train.jsonl", "saved/adapter_model.safetensors",
    ] {
      XCTAssertTrue(fm.fileExists(atPath: out.appendingPathComponent(file).path), file)
    }
    let logs = try fm.contentsOfDirectory(atPath: out.appendingPathComponent("run/logs").path)
    XCTAssertTrue(logs.contains { $0.hasPrefix("events.out.tfevents.") }, "\(logs)")
    XCTAssertTrue(stderr.text.contains("img/s"), stderr.text)

    // Second adapter, second run: the images are gone from disk, so any read would fail.
    for i in 0..<4 {
      for ext in ["jpg", "png", "webp"] { try? fm.removeItem(at: data.appendingPathComponent("i\(i).\(ext)")) }
    }
    try interpreter.run(
      "lora second rank=2 seed=2\ntrain epochs=1 lr=0.05 no_dropout prompt=\(prompt)", name: "e2e2.flr")
    XCTAssertFalse(stdout.text.contains("failed to decode"), stdout.text)
    XCTAssertTrue(stdout.text.contains("training second"), stdout.text)
    XCTAssertEqual(stdout.text.components(separatedBy: "training done").count - 1, 2, stdout.text)
  }

  func testShowDatasetPrintsCountsTokenLengthsAndMemory() throws {
    let stdout = CapturedOutput(), stderr = CapturedOutput()  // kept alive: Session holds them unowned
    let session = Session(out: stdout.output, err: stderr.output)
    let interpreter = Interpreter(session: session)
    try interpreter.run("show dataset", name: "s")
    XCTAssertTrue(stdout.text.contains("dataset: none (dataset DIR)"), stdout.text)
    let demo = Self.fixtures.appendingPathComponent("demo-tiny").path
    let data = Self.fixtures.appendingPathComponent("demo-dataset").path
    try interpreter.run("load \(demo)\ndataset \(data)\nshow dataset", name: "s")
    // Both captions tokenize to 10 and 11 ids with <s> and </s> (the real tokenizer of the demo model).
    XCTAssertTrue(stdout.text.contains("images: 2 (train 2, eval 0), skipped 0"), stdout.text)
    XCTAssertTrue(stdout.text.contains("caption tokens (<s> ... </s>): min 10, mean 10.5, max 11"), stdout.text)
    XCTAssertTrue(stdout.text.contains("memory: 2 of 2 images resident"), stdout.text)
  }

  func testTrainWithoutDatasetOrAdapterSaysWhatIsMissing() throws {
    let session = Session(out: CapturedOutput().output, err: CapturedOutput().output)
    XCTAssertThrowsError(try Interpreter(session: session).run("train", name: "t")) { error in
      XCTAssertTrue("\(error)".contains("no model loaded"), "\(error)")
    }
    XCTAssertThrowsError(try Interpreter(session: session).run("dataset split=0.1", name: "t")) { error in
      XCTAssertTrue("\(error)".contains("no dataset loaded"), "\(error)")
    }
  }
}
