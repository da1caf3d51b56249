import FlrModel
import FlrTrain
import Foundation
import XCTest

@testable import FlrShell

/// The shell side of schedule-free saving (optimizer=prodigy-sf):
/// - a new `train` (not resume) on an adapter whose last run was prodigy-sf starts from the averaged weights x
///   (what `save` wrote), not the training iterate y: it ends on the same bytes as the same run started from the
///   saved x in a fresh session, and on other bytes than one started from y;
/// - `save DIR` without `state` removes a training state an earlier `save DIR state` left in DIR, both for an
///   adapter with a run in the session and for a loaded one;
/// - `sf_save=` in the banner (no effect with adamw), and the one-shot's flr-only `--sf_save`.
final class TrainScheduleFreeSaveShellTests: XCTestCase {
  static let prompt = "\"a photo of the man in the\""

  func testNewTrainStartsFromTheAveragedWeightsAndSaveDropsAStaleState() throws {
    let fixture = try TrainingShellFixture(name: "sf-new-train")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let setup = "load \(fixture.model.path)\ndataset \(fixture.data.path)\n"
    // d0=1e-2 so that four steps move y and z far enough apart that x and y differ.
    let first =
      "train epochs=1 optimizer=prodigy-sf lr=1 optimizer_args=\"d0=1e-2\" scheduler=none seed=4 "
      + "prompt=\(Self.prompt) name=run log=none"
    // The second run: adamw, where sf_save=inplace changes nothing (the banner says so); `seed` is its old name.
    let second = "train epochs=1 lr=0.01 seed=5 no_dropout prompt=\(Self.prompt) name=again log=none sf_save=seed"

    let a = TestSession()
    try a.run(setup + "lora first rank=4 seed=1\n\(first)")
    XCTAssertTrue(a.errText.contains("sf_save=averaged: samples and saves use the schedule-free average x"))
    let trainer = try XCTUnwrap(a.session.training.trainer)
    try PEFTAdapterFile.save(trainer.parameters.adapter, to: "\(out)/iterate")  // y, written directly
    try a.run("save first \(out)/averaged")  // x
    XCTAssertNotEqual(
      try bytes("\(out)/iterate/adapter_model.safetensors"), try bytes("\(out)/averaged/adapter_model.safetensors"))

    // A stale state: `save DIR state` then `save DIR` into the same folder leaves no state behind.
    let stale = "\(out)/stale"
    try a.run("save first \(stale) state")
    XCTAssertTrue(exists(stale, TrainerCheckpoint.stateFile) && exists(stale, TrainerCheckpoint.tensorFile))
    try Data("mine".utf8).write(to: URL(fileURLWithPath: "\(stale)/notes.txt"))
    try a.run("save first \(stale) overwrite")
    XCTAssertFalse(exists(stale, TrainerCheckpoint.stateFile) || exists(stale, TrainerCheckpoint.tensorFile))
    XCTAssertTrue(exists(stale, "adapter_model.safetensors") && exists(stale, "notes.txt"))
    try a.run("save first \(stale) state overwrite")  // again, for the loaded adapter below

    try a.run("\(second) out=\(out)/a")
    XCTAssertTrue(a.errText.contains("first starts from the averaged weights of its prodigy-sf run"), a.errText)
    XCTAssertTrue(a.errText.contains("sf_save=inplace has no effect with AdamW"), a.errText)
    let fromSession = try bytes("\(out)/a/again/adapter_model.safetensors")

    // The same second run in fresh sessions, from x and from y as saved above.
    var finals: [String: Data] = [:]
    for start in ["averaged", "iterate"] {
      let s = TestSession()
      try s.run(setup + "load adapter=\(out)/\(start) name=first\nuse first")
      if start == "averaged" {
        // A loaded adapter (no run in this session) saved over a folder with a state: the state goes too.
        try s.run("save first \(stale) overwrite")
        XCTAssertFalse(exists(stale, TrainerCheckpoint.stateFile) || exists(stale, TrainerCheckpoint.tensorFile))
      }
      try s.run("\(second) out=\(out)/\(start)-run")
      XCTAssertFalse(s.errText.contains("starts from the averaged weights"), "no earlier run here")
      finals[start] = try bytes("\(out)/\(start)-run/again/adapter_model.safetensors")
    }
    XCTAssertEqual(fromSession, finals["averaged"], "the new run started from x")
    XCTAssertNotEqual(fromSession, finals["iterate"], "and not from y")
  }

  func testOneShotSfSave() throws {
    let base = ["--dataset_dir", "d", "--output_dir", "o"]
    let train = try XCTUnwrap(Registry.find("train"))
    // `seed` is the earlier name of `inplace`: still accepted, by the one-shot and by the shell, as inplace.
    for word in ["inplace", "seed"] {
      let parsed = try TrainOneShot.parse(base + ["--sf_save", word])
      XCTAssertTrue(parsed.commands[3].hasSuffix("out=o layout=reference sf_save=\(word)"), parsed.commands[3])
      XCTAssertTrue(parsed.notes.isEmpty)
      let statement = try XCTUnwrap(Lexer.statements(parsed.commands[3]).first)
      let bound = try Binder.bind(statement, to: train, settings: [:])
      XCTAssertEqual(bound.string("sf_save"), "inplace", word)
      XCTAssertEqual(TrainerSettings.ScheduleFreeSave(rawValue: word), .inplace)
      let adamw = try TrainOneShot.parse(base + ["--sf_save", word, "--optimizer_name", "AdamW"])
      XCTAssertTrue(adamw.notes.contains { $0.contains("--sf_save \(word) has no effect") }, "\(adamw.notes)")
    }
    XCTAssertEqual(TrainerSettings.ScheduleFreeSave.inplace.rawValue, "inplace", "what a saved state now holds")
    XCTAssertFalse(try TrainOneShot.parse(base).commands[3].contains("sf_save"), "default: averaged, not written")
    XCTAssertThrowsError(try TrainOneShot.parse(base + ["--sf_save", "sideways"]))
    XCTAssertThrowsError(
      try Binder.bind(try XCTUnwrap(Lexer.statements("train sf_save=sideways").first), to: train, settings: [:]))
    XCTAssertFalse(HelpText.markdown().contains("averaged|inplace|seed"), "help offers the choices only")
  }

  func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

  func exists(_ folder: String, _ name: String) -> Bool {
    FileManager.default.fileExists(atPath: folder + "/" + name)
  }
}
