import Foundation
import XCTest

/// The reference scripts' workflow with the built `flr`: `flr train --output_dir D` then `flr caption --peft_model D`,
/// and the one-shot forms checking every argument before they load a model.
final class OneShotWorkflowTests: XCTestCase {
  func testTrainIntoOutputDirThenCaptionWithPeftModelOutputDir() throws {
    // The demo model has the full vocabulary, so the one-shot forms' default task prompts fit it.
    let fixture = try TrainingShellFixture(
      name: "oneshot-workflow", modelFolder: TrainingShellFixture.fixtures.appendingPathComponent("demo-tiny"))
    defer { fixture.remove() }
    let lora = fixture.folder.appendingPathComponent("loras/my-lora").path
    let train = try ProcessTests.flr([
      "train", "--model_id", fixture.model.path, "--dataset_dir", fixture.data.path, "--output_dir", lora,
      "--epochs", "2", "--batch_size", "2", "--optimizer_name", "AdamW", "--target_modules", "q_proj", "v_proj",
      "--save_every_n_epochs", "1", "--name", "run1", "--log_with", "tensorboard",
    ])
    XCTAssertEqual(train.status, 0, train.err)
    let fm = FileManager.default
    XCTAssertTrue(fm.fileExists(atPath: lora + "/adapter_model.safetensors"), "the final adapter in D itself")
    XCTAssertTrue(fm.fileExists(atPath: lora + "/_epoch-1/adapter_model.safetensors"))
    XCTAssertTrue(fm.fileExists(atPath: lora + "/logs/run1"), "--name names the logs")
    let caption = try ProcessTests.flr([
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
    let missing = try ProcessTests.flr(["caption", "--images", "/nope"] + model)
    XCTAssertEqual(missing.status, 2, missing.err)
    XCTAssertTrue(missing.err.contains("/nope") && !missing.err.contains("load:"), missing.err)
    let zero = try ProcessTests.flr(["caption", "--images", "/tmp", "--batch_size", "0"] + model)
    XCTAssertEqual(zero.status, 2, zero.err)
    XCTAssertTrue(zero.err.contains("batch=0"), zero.err)
    let both = try ProcessTests.flr(
      ["caption", "--images", "/tmp", "--save_captions", "--overwrite", "--append"] + model)
    XCTAssertEqual(both.status, 2, both.err)
    XCTAssertTrue(both.err.contains("contradict"), both.err)
    let train = try ProcessTests.flr([
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
    let run = try ProcessTests.flr([
      "caption", "--base_model", fixture.model.path, "--images", bad, "--max_token_length", "3",
    ])
    XCTAssertEqual(run.status, 1, run.err)
    XCTAssertTrue(run.err.contains("nothing captioned"), run.err)
  }
}
