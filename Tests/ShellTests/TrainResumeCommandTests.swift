import Foundation
import XCTest

@testable import FlrShell

/// `save DIR state` and `train save_state`, then in a NEW session `load adapter=DIR; train resume`: the run
/// continues exactly where it stopped. Dropout (model, LoRA, DaViT drop path), shuffling and OneCycle are all on,
/// so the final adapter file equals the one of a run never stopped byte for byte only if every piece of state
/// came back.
final class TrainResumeCommandTests: XCTestCase {
  func testResumeInANewSessionEqualsAStraightRun() throws {
    let fixture = try TrainingShellFixture(name: "resume")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let prompt = "\"a photo of the man in the\""
    let setup = "load \(fixture.model.path)\ndataset \(fixture.data.path)\n"
    let train = "train epochs=2 lr=0.01 seed=4 scheduler=onecycle prompt=\(prompt) name=run"

    // A: straight run, auto-saving with state at step 3.
    let a = TestSession()
    try a.run(setup + "lora first rank=4 seed=1\n\(train) out=\(out)/a save_every_steps=3 save_state")
    XCTAssertTrue(a.out.text.contains("saving to \(out)/a/run with training state"), a.out.text)
    let straight = try Data(contentsOf: URL(fileURLWithPath: "\(out)/a/run/adapter_model.safetensors"))

    // B: the same run stopped by Ctrl-C after step 3, then `save first DIR state`.
    let b = TestSession()
    try b.run(setup + "lora first rank=4 seed=1")
    try b.runStopped("\(train) out=\(out)/b", at: " step 3/8 ")
    XCTAssertTrue(b.out.text.contains("training stopped at step 3/8"), b.out.text)
    try b.run("save first \(out)/saved state")
    for file in ["adapter_model.safetensors", "trainer_state.json", "optimizer.safetensors"] {
      XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/saved/\(file)"), file)
    }

    // C: a new session resumes from `save DIR state`; the final save goes to the run's out/name.
    let c = TestSession()
    try c.run(setup + "load adapter=\(out)/saved\ntrain resume")
    XCTAssertTrue(c.errText.contains("resuming from \(out)/saved at epoch 1, step 3/8"), c.errText)
    XCTAssertTrue(c.errText.contains("training done: 8 steps"), c.errText)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(out)/b/run/adapter_model.safetensors")), straight)

    // D: a new session resumes from A's auto-save at step 3 (train resume from=DIR works the same).
    let d = TestSession()
    try d.run(setup + "load adapter=\(out)/a/run/step-3 name=again\ntrain resume")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(out)/a/run/adapter_model.safetensors")), straight)
  }

  func testResumeWithoutStateSaysWhatToDo() throws {
    let fixture = try TrainingShellFixture(name: "resume-missing")
    defer { fixture.remove() }
    let s = TestSession()
    try s.run("load \(fixture.model.path)\ndataset \(fixture.data.path)\nlora x rank=2")
    XCTAssertThrowsError(try s.run("train resume")) { error in
      XCTAssertTrue("\(error)".contains("save DIR"), "\(error)")
    }
    XCTAssertThrowsError(try s.run("save x \(fixture.folder.path)/x state")) { error in
      XCTAssertTrue("\(error)".contains("no training run in this session"), "\(error)")
    }
    XCTAssertThrowsError(try s.run("train resume from=\(fixture.folder.path)")) { error in
      XCTAssertTrue("\(error)".contains("missing trainer_state.json"), "\(error)")
    }
  }
}
