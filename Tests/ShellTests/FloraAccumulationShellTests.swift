import Foundation
import XCTest

@testable import FlrShell

/// Flora's compressed gradient accumulation from the shell: `flr train --optimizer_name Flora --accumulation_rank R
/// --gradient_accumulation_steps k` (with the reference script's -ac and --optimizer_rank) trains the demo model,
/// `train ... accumulation_rank=R` stops and resumes in a new session to the same adapter file, and what the reference
/// script cannot run is refused with a reason before any training.
final class FloraAccumulationShellTests: XCTestCase {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures").standardized

  func oneShot(_ extra: [String], out: String = "o") throws -> TrainOneShot {
    let demo = Self.fixtures.appendingPathComponent("demo-tiny").path
    let data = Self.fixtures.appendingPathComponent("demo-dataset").path
    return try TrainOneShot.parse(["--model_id", demo, "--dataset_dir", data, "--output_dir", out] + extra)
  }

  func testOneShotTrainsWithCompressedAccumulation() throws {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("flr-flora-acc-\(getpid())")
    try? FileManager.default.removeItem(at: out)
    defer { try? FileManager.default.removeItem(at: out) }
    // LoRA rank 8: the demo model's 7x7 patch conv lora_A [8, 3, 7, 7] can be projected (see the refusal below).
    let parsed = try oneShot(
      [
        "--optimizer_name", "Flora", "--accumulation_rank", "8", "--gradient_accumulation_steps", "2", "--rank", "8",
        "--alpha", "8", "--epochs", "2", "--learning_rate", "0.01", "--seed", "1", "-ac", "--optimizer_rank", "3",
      ], out: out.path)
    let train = parsed.commands[3]
    for part in ["optimizer=flora", "accumulate=2", "accumulation_rank=8", "checkpointing=all"] {
      XCTAssertTrue(train.contains(part), train)
    }
    XCTAssertEqual(parsed.notes.count, 1)
    XCTAssertTrue(parsed.notes[0].contains("--optimizer_rank has no effect"), "\(parsed.notes)")
    XCTAssertEqual(
      try oneShot(["--optimizer_name", "Flora", "--accumulation-rank", "8"]).commands,
      try oneShot(["--optimizer_name", "Flora", "--accumulation_rank", "8"]).commands)
    XCTAssertEqual(
      try oneShot(["--activation_checkpointing"]).commands, try oneShot(["--gradient_checkpointing"]).commands)

    let s = TestSession()
    try s.run(parsed.commands.joined(separator: "\n"))
    XCTAssertTrue(
      s.errText.contains("Flora compressed accumulation: rank 8 random projections over 2 micro-batches"), s.errText)
    // 2 images, batch 1, k = 2: one optimizer step per epoch.
    XCTAssertTrue(s.errText.contains("training done: 2 steps"), s.errText)
    let saved = try FileManager.default.subpathsOfDirectory(atPath: out.path)
    XCTAssertTrue(saved.contains { $0.hasSuffix("adapter_model.safetensors") }, "\(saved)")
  }

  func testOneShotRefusalsAndNotes() throws {
    for optimizer in [[], ["--optimizer_name", "AdamW"]] {
      XCTAssertThrowsError(try oneShot(optimizer + ["--accumulation_rank", "4"])) { error in
        XCTAssertTrue("\(error)".contains("needs --optimizer_name Flora"), "\(error)")
      }
    }
    XCTAssertThrowsError(try oneShot(["--optimizer_name", "Flora", "--accumulation_rank", "0"]))
    let k1 = try oneShot(["--optimizer_name", "Flora", "--accumulation_rank", "4"])
    XCTAssertTrue(k1.notes.contains { $0.contains("compresses nothing") }, "\(k1.notes)")

    // The reference script's default targets at r = 4 include the 7x7 patch conv: lora_A [4, 3, 7, 7] cannot be
    // projected.
    let refused = try oneShot(
      ["--optimizer_name", "Flora", "--accumulation_rank", "4", "--gradient_accumulation_steps", "2", "--epochs", "1"])
    let s = TestSession()
    XCTAssertThrowsError(try s.run(refused.commands.joined(separator: "\n"))) { error in
      XCTAssertTrue("\(error)".contains("convs.0.proj.lora_A.weight [4, 3, 7, 7]"), "\(error)")
    }
    XCTAssertFalse(s.errText.contains("training done"), s.errText)
  }

  /// `train ... accumulation_rank=4` stopped by Ctrl-C after step 3 of 4, `save NAME DIR state`, then a new session
  /// `load adapter=DIR; train resume`: the final adapter file equals a straight run's byte for byte, which needs the
  /// projection seeds (advanced each step) back from the state.
  func testShellResumeEqualsAStraightRun() throws {
    let fixture = try TrainingShellFixture(name: "flora-acc-resume")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let setup = "load \(fixture.model.path)\ndataset \(fixture.data.path)\nlora first rank=8 seed=1\n"
    let train =
      "train epochs=2 lr=0.01 seed=4 accumulate=2 optimizer=flora accumulation_rank=4 scheduler=onecycle "
      + "prompt=\"a photo of the man in the\" name=run"

    let a = TestSession()
    try a.run(setup + "\(train) out=\(out)/a")
    XCTAssertTrue(a.errText.contains("training done: 4 steps"), a.errText)
    let straight = try Data(contentsOf: URL(fileURLWithPath: "\(out)/a/run/adapter_model.safetensors"))

    let b = TestSession()
    try b.run(setup)
    try b.runStopped("\(train) out=\(out)/b", at: " step 3/4 ")
    XCTAssertTrue(b.errText.contains("training stopped at step 3/4"), b.errText)
    try b.run("save first \(out)/saved state")

    let c = TestSession()
    try c.run(
      "load \(fixture.model.path)\ndataset \(fixture.data.path)\nload adapter=\(out)/saved\ntrain resume")
    XCTAssertTrue(c.errText.contains("Flora compressed accumulation: rank 4"), c.errText)
    XCTAssertTrue(c.errText.contains("training done: 4 steps"), c.errText)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(out)/b/run/adapter_model.safetensors")), straight)

    // Another optimizer with accumulation_rank: refused before training.
    XCTAssertThrowsError(try c.run("train optimizer=adamw accumulate=2 accumulation_rank=4")) { error in
      XCTAssertTrue("\(error)".contains("only with optimizer=flora"), "\(error)")
    }
  }
}
