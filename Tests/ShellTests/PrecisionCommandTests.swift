import FlrCheckpoints
import FlrCore
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
    XCTAssertTrue(stderr.text.contains("training done"), stderr.text)
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

/// A 16-step LoRA run (seed targets, r=4) on a bf16 and an int8 base of demo-train follows the fp32 run's loss
/// within 2% at every step (the bound for bf16; int8 is held to the same).
final class PrecisionTrainingTests: XCTestCase {
  func losses(precision: String) throws -> [Double] {
    let fixture = try TrainingShellFixture(
      name: "precision-\(precision)", modelFolder: TrainingShellFixture.fixtures.appendingPathComponent("demo-train"),
      captions: TrainingOverfitTests.captions)
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let s = TestSession()
    try s.run(
      """
      load \(fixture.model.path) precision=\(precision)
      dataset \(fixture.data.path)
      lora rank=4 alpha=4 seed=1
      train epochs=4 lr=0.001 optimizer=adamw seed=3 prompt="a photo of the man in the" out=\(out) name=run log=jsonl
      """)
    let log = try String(contentsOfFile: "\(out)/run/logs/train.jsonl", encoding: .utf8)
    return log.split(separator: "\n").compactMap { line in
      guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
      return object["loss"] as? Double
    }
  }

  func testReducedBaseLossStaysWithinTwoPercentOfFP32() throws {
    let fp32 = try losses(precision: "fp32")
    XCTAssertEqual(fp32.count, 16)
    for precision in ["bf16", "int8"] {
      let reduced = try losses(precision: precision)
      XCTAssertEqual(reduced.count, fp32.count)
      let worst = zip(reduced, fp32).map { abs($0 - $1) / $1 }.max() ?? 0
      print("\(precision): worst step loss difference from fp32 \(worst * 100)%")
      XCTAssertLessThan(worst, 0.02, "\(precision): \(reduced) vs fp32 \(fp32)")
      XCTAssertGreaterThan(worst, 0, "\(precision) computed exactly what fp32 did")
    }
  }
}

/// `save model DIR dtype=bf16`: every floating tensor bf16, config.json's torch_dtype bfloat16; the folder loads
/// back (at bf16 it holds the same Linear weights the saving model computed with).
final class PrecisionSaveTests: XCTestCase {
  func testSaveModelInBF16() throws {
    let fm = FileManager.default
    let dir = fm.temporaryDirectory.appendingPathComponent("flr-save-bf16-\(getpid())")
    try? fm.removeItem(at: dir)
    defer { try? fm.removeItem(at: dir) }
    let demo = PrecisionCommandTests.fixtures.appendingPathComponent("demo-tiny").path
    let s = TestSession()
    try s.run("load \(demo) precision=bf16\nsave model \(dir.path)/half dtype=bf16")
    let set = try CheckpointSet.open(folder: "\(dir.path)/half")
    XCTAssertFalse(set.tensors.isEmpty)
    for (name, tensor) in set.tensors { XCTAssertEqual(tensor.dtype, .bf16, name) }
    let config = try JSONSerialization.jsonObject(
      with: Data(contentsOf: dir.appendingPathComponent("half/config.json")))
    XCTAssertEqual((config as? [String: Any])?["torch_dtype"] as? String, "bfloat16")
    let before = try XCTUnwrap(s.session.model).model
    try s.run("load \(dir.path)/half precision=bf16")
    let after = try XCTUnwrap(s.session.model).model
    let weights = { (m: Florence2) in
      m.namedModules().compactMap { entry -> Tensor? in
        guard case .linear(let slot) = entry.kind, let layer = slot.get() as? BF16LinearLayer else { return nil }
        return layer.stored.decoded()
      }
    }
    let (a, b) = (weights(before), weights(after))
    XCTAssertEqual(a.count, b.count)
    for (x, y) in zip(a, b) {
      XCTAssertTrue(
        UnsafeBufferPointer(start: x.data, count: x.count).elementsEqual(
          UnsafeBufferPointer(start: y.data, count: y.count)))
    }
    XCTAssertThrowsError(try s.run("save model \(dir.path)/sixteen dtype=fp16")) { error in
      XCTAssertTrue("\(error)".contains("dtype=fp16 applies to adapters"), "\(error)")
    }
  }
}

/// FLR_KERNELS chooses a lower kernel path for the whole process (the built binary, as a user runs it).
final class KernelOverrideProcessTests: XCTestCase {
  func testFLRKernelsPicksThePath() throws {
    let binary = try XCTUnwrap(ProcessTests.binary, "flr binary not found next to the test bundle")
    let demo = PrecisionCommandTests.fixtures.appendingPathComponent("demo-tiny").path
    for path in KernelPath.runnable {
      let process = Process()
      process.executableURL = binary
      process.arguments = ["-c", "load \(demo) precision=bf16; show model"]
      let output = Pipe()
      process.standardOutput = output
      let errors = Pipe()
      process.standardError = errors
      var environment = ProcessInfo.processInfo.environment
      environment["FLR_KERNELS"] = ["portable", "avx2", "avx512"][path.rawValue]
      process.environment = environment
      try process.run()
      let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      XCTAssertEqual(process.terminationStatus, 0)
      XCTAssertTrue(text.contains("reduced-precision kernels: \(path)"), "\(path): \(text)")
      let notes = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      XCTAssertEqual(notes.contains("portable C, slower than fp32"), path == .portable, notes)
      XCTAssertEqual(notes.contains("no AVX512_BF16"), path == .avx2, notes)
    }
  }
}
