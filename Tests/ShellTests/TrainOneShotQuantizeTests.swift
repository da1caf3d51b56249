import FlrModel
import Foundation
import XCTest

@testable import FlrShell

/// `flr train --quantize` (the reference script's QLoRA flag) on the demo model: the one-shot form loads the base with
/// `quantize=nf4`, trains a LoRA on top of the NF4 Linears for a few steps and saves it; then `caption` runs on
/// the quantized model with and without the adapter.
final class TrainOneShotQuantizeTests: XCTestCase {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures").standardized

  func testQuantizeLoadsNF4() throws {
    let plain = try TrainOneShot.parse(["--dataset_dir", "d", "--output_dir", "o", "--model_id", "m"])
    XCTAssertEqual(plain.commands[0], "load m")
    let parsed = try TrainOneShot.parse(["--dataset_dir", "d", "--output_dir", "o", "--model_id", "m", "--quantize"])
    XCTAssertEqual(parsed.commands[0], "load m quantize=nf4")
    let statement = try XCTUnwrap(Lexer.statements(parsed.commands[0]).first)
    XCTAssertNoThrow(try Binder.bind(statement, to: try XCTUnwrap(Registry.find("load")), settings: [:]))
  }

  func testQuantizedTrainingAndCaptionFromTheShell() throws {
    let fm = FileManager.default
    let out = fm.temporaryDirectory.appendingPathComponent("flr-qlora-\(getpid())")
    try? fm.removeItem(at: out)
    defer { try? fm.removeItem(at: out) }
    let demo = Self.fixtures.appendingPathComponent("demo-tiny").path
    let data = Self.fixtures.appendingPathComponent("demo-dataset").path
    let parsed = try TrainOneShot.parse([
      "--model_id", demo, "--dataset_dir", data, "--output_dir", out.path, "--quantize", "--epochs", "2",
      "--optimizer_name", "AdamW", "--learning_rate", "0.001", "--seed", "1",
    ])
    let stdout = CapturedOutput(), stderr = CapturedOutput()  // kept alive: Session holds them unowned
    let session = Session(out: stdout.output, err: stderr.output)
    let interpreter = Interpreter(session: session)
    try interpreter.run(parsed.commands.joined(separator: "\n"), name: "flr train")
    XCTAssertTrue(stderr.text.contains("Linear weights as NF4"), stderr.text)
    // Every adapted Linear wraps an NF4 base.
    let model = try XCTUnwrap(session.model).model
    let adapted = model.namedModules().compactMap { entry -> LoRALinear? in
      if case .linear(let slot) = entry.kind { return slot.get() as? LoRALinear } else { return nil }
    }
    XCTAssertGreaterThan(adapted.count, 0)
    XCTAssertTrue(adapted.allSatisfy { $0.base is NF4LinearLayer }, "the base stays NF4 under the adapter")
    // 2 images, batch 1, 2 epochs: 4 optimizer steps.
    XCTAssertEqual(stderr.text.components(separatedBy: "\n").filter { $0.hasPrefix("epoch ") }.count, 2, stderr.text)
    XCTAssertTrue(stderr.text.contains("training done"), stderr.text)
    // The final adapter goes to out/NAME (the adapter's name).
    let saved = try fm.subpathsOfDirectory(atPath: out.path)
    XCTAssertTrue(saved.contains { $0.hasSuffix("adapter_model.safetensors") }, "\(saved)")

    // caption on the quantized model with the trained adapter, then on a freshly loaded quantized base.
    let image = Self.fixtures.appendingPathComponent("demo-dataset/photo_camera_gray.jpg").path
    let before = stdout.text.count
    try interpreter.run("caption \(image) beams=2 max_tokens=8", name: "c")
    try interpreter.run("load \(demo) quantize=nf4\ncaption \(image) beams=2 max_tokens=8", name: "c")
    let lines = String(stdout.text.dropFirst(before)).split(separator: "\n").filter { $0.hasPrefix(image + "\t") }
    XCTAssertEqual(lines.count, 2, stdout.text)
  }
}
