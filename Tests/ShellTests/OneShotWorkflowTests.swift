import Foundation
import XCTest

/// The reference scripts' workflow with the built `flr`: `flr train --output_dir D` then `flr caption --peft_model D`,
/// and the one-shot forms checking every argument before they load a model.
final class OneShotWorkflowTests: XCTestCase {
  private func flr(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    guard let binary = ProcessTests.binary else {
      XCTFail("flr binary not found next to the test bundle; run `swift build` first")
      throw XCTSkip("no binary")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let output = Pipe(), error = Pipe()
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = error
    var environment = ProcessInfo.processInfo.environment
    environment["HOME"] = FileManager.default.temporaryDirectory.path
    process.environment = environment
    try process.run()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
  }

  func testTrainIntoOutputDirThenCaptionWithPeftModelOutputDir() throws {
    // The demo model has the full vocabulary, so the one-shot forms' default task prompts fit it.
    let fixture = try TrainingShellFixture(
      name: "oneshot-workflow", modelFolder: TrainingShellFixture.fixtures.appendingPathComponent("demo-tiny"))
    defer { fixture.remove() }
    let lora = fixture.folder.appendingPathComponent("loras/my-lora").path
    let train = try flr([
      "train", "--model_id", fixture.model.path, "--dataset_dir", fixture.data.path, "--output_dir", lora,
      "--epochs", "2", "--batch_size", "2", "--optimizer_name", "AdamW", "--target_modules", "q_proj", "v_proj",
      "--save_every_n_epochs", "1", "--name", "run1", "--log_with", "tensorboard",
    ])
    XCTAssertEqual(train.status, 0, train.err)
    let fm = FileManager.default
    XCTAssertTrue(fm.fileExists(atPath: lora + "/adapter_model.safetensors"), "the final adapter in D itself")
    XCTAssertTrue(fm.fileExists(atPath: lora + "/_epoch-1/adapter_model.safetensors"))
    XCTAssertTrue(fm.fileExists(atPath: lora + "/logs/run1"), "--name names the logs")
    let caption = try flr([
      "caption", "--base_model", fixture.model.path, "--peft_model", lora, "--images",
      fixture.data.appendingPathComponent("i0.jpg").path, "--max_token_length", "4", "--beams", "1",
    ])
    XCTAssertEqual(caption.status, 0, caption.err)
    XCTAssertTrue(caption.err.contains("loaded adapter my-lora"), caption.err)
    XCTAssertTrue(caption.out.hasPrefix(fixture.data.appendingPathComponent("i0.jpg").path + "\t"), caption.out)
  }

  func testOneShotFormsCheckTheirArgumentsBeforeLoadingAModel() throws {
    // The model does not exist either: the argument error must come first.
    let model = ["--base_model", "/nonexistent/model"]
    let missing = try flr(["caption", "--images", "/nope"] + model)
    XCTAssertEqual(missing.status, 2, missing.err)
    XCTAssertTrue(missing.err.contains("/nope") && !missing.err.contains("load:"), missing.err)
    let zero = try flr(["caption", "--images", "/tmp", "--batch_size", "0"] + model)
    XCTAssertEqual(zero.status, 2, zero.err)
    XCTAssertTrue(zero.err.contains("batch=0"), zero.err)
    let both = try flr(["caption", "--images", "/tmp", "--save_captions", "--overwrite", "--append"] + model)
    XCTAssertEqual(both.status, 2, both.err)
    XCTAssertTrue(both.err.contains("contradict"), both.err)
    let train = try flr([
      "train", "--model_id", "/nonexistent/model", "--dataset_dir", "/tmp", "--output_dir", "/tmp/x",
      "--epochs", "0",
    ])
    XCTAssertEqual(train.status, 2, train.err)
    XCTAssertTrue(train.err.contains("epochs=0"), train.err)
  }

  func testCaptionOneShotFailsWhenNothingWasCaptioned() throws {
    let fixture = try TrainingShellFixture(name: "oneshot-nothing")
    defer { fixture.remove() }
    let bad = fixture.folder.appendingPathComponent("bad.jpg").path
    try FileManager.default.copyItem(
      atPath: TrainingShellFixture.fixtures.appendingPathComponent("images/bad_truncated.jpg").path, toPath: bad)
    let run = try flr(["caption", "--base_model", fixture.model.path, "--images", bad, "--max_token_length", "3"])
    XCTAssertEqual(run.status, 1, run.err)
    XCTAssertTrue(run.err.contains("nothing captioned"), run.err)
  }
}
