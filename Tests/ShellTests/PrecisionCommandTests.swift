import FlrModel
import Foundation
import XCTest

@testable import FlrShell

/// `load … precision=`, `set precision=`, `show model`, the one-shot `--dtype` flags, and the commands on a
/// reduced-precision demo model: caption, features, LoRA training on the frozen reduced base (fp32 adapter),
/// merge refused with a clear word, `save model` writing fp32.
final class PrecisionCommandTests: XCTestCase {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures").standardized
  let demo = fixtures.appendingPathComponent("demo-tiny").path
  let image = fixtures.appendingPathComponent("demo-dataset/photo_camera_gray.jpg").path

  func testOneShotDTypeFlagsBecomeLoadPrecision() throws {
    let caption = try CaptionOneShot.parse(["--images", "i", "--base_model", "m", "--dtype", "bfloat16"])
    XCTAssertEqual(caption.commands[0], "load m precision=bf16")
    XCTAssertEqual(try CaptionOneShot.parse(["--images", "i", "--base_model", "m"]).commands[0], "load m")
    XCTAssertThrowsError(try CaptionOneShot.parse(["--images", "i", "--dtype", "fp8"]))
    let train = try TrainOneShot.parse([
      "--dataset_dir", "d", "--output_dir", "o", "--model_id", "m", "--dtype", "int8",
    ])
    XCTAssertEqual(train.commands[0], "load m precision=int8")
    XCTAssertThrowsError(
      try TrainOneShot.parse(["--dataset_dir", "d", "--output_dir", "o", "--quantize", "--dtype", "bfloat16"]))
  }

  func testReducedModelCaptionsTrainsAndRefusesMerge() throws {
    let fm = FileManager.default
    let dir = fm.temporaryDirectory.appendingPathComponent("flr-precision-\(getpid())")
    try? fm.removeItem(at: dir)
    defer { try? fm.removeItem(at: dir) }
    let stdout = CapturedOutput(), stderr = CapturedOutput()  // kept alive: Session holds them unowned
    let session = Session(out: stdout.output, err: stderr.output)
    let interpreter = Interpreter(session: session)
    try interpreter.run("set precision=bf16\nload \(demo)\nshow model", name: "t")
    XCTAssertTrue(stderr.text.contains("Linear weights as bf16"), stderr.text)
    XCTAssertTrue(stdout.text.contains("weights: bf16"), stdout.text)
    XCTAssertEqual(try XCTUnwrap(session.model).model.weightPrecision, .bf16)

    try interpreter.run("load \(demo) precision=int8\ncaption \(image) beams=2 max_tokens=8", name: "t")
    XCTAssertEqual(try XCTUnwrap(session.model).model.weightPrecision, .int8)
    XCTAssertEqual(stdout.text.split(separator: "\n").filter { $0.hasPrefix(image + "\t") }.count, 1, stdout.text)

    let data = Self.fixtures.appendingPathComponent("demo-dataset").path
    try interpreter.run(
      "dataset \(data)\nlora mine rank=4 targets=q_proj,v_proj seed=1\ntrain epochs=1 optimizer=adamw lr=0.001",
      name: "t")
    let adapted = try XCTUnwrap(session.model).model.namedModules().compactMap { entry -> LoRALinear? in
      if case .linear(let slot) = entry.kind { return slot.get() as? LoRALinear } else { return nil }
    }
    XCTAssertGreaterThan(adapted.count, 0)
    XCTAssertTrue(adapted.allSatisfy { $0.base is Int8LinearLayer }, "the base stays int8 under the adapter")
    XCTAssertTrue(stdout.text.contains("training done"), stdout.text)
    XCTAssertThrowsError(try interpreter.run("merge", name: "t")) { error in
      XCTAssertTrue("\(error)".contains("reduced precision"), "\(error)")
    }
    // save model writes fp32 (the weights as the model holds them, decoded).
    try interpreter.run("use none\nsave model \(dir.path)/saved", name: "t")
    try interpreter.run("load \(dir.path)/saved precision=fp32\ncaption \(image) beams=2 max_tokens=8", name: "t")
    XCTAssertEqual(try XCTUnwrap(session.model).model.weightPrecision, .fp32)
  }

  func testUnknownPrecisionIsRefused() throws {
    let stdout = CapturedOutput(), stderr = CapturedOutput()
    let session = Session(out: stdout.output, err: stderr.output)
    XCTAssertThrowsError(try Interpreter(session: session).run("load \(demo) precision=fp16", name: "t")) { error in
      XCTAssertTrue("\(error)".contains("fp32"), "\(error)")
    }
    XCTAssertNil(session.model)
  }
}
