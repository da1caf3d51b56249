import Foundation
import XCTest

@testable import FlrShell

/// `train` checks everything before it prints its banner or creates a folder or log file; `merge` / `unmerge`
/// leave the adapter active as PEFT does; the shell's `train out= layout=reference` saves as train_florence_peft.py.
final class TrainChecksFirstTests: XCTestCase {
  private var fixture: TrainingShellFixture!

  override func tearDown() { fixture?.remove() }

  /// The tiny model's vocabulary is 2,048 ids: these words tokenize above it.
  static let rareWords = "xylophone kaleidoscope zeppelin"

  func testAPromptOutsideTheVocabularyIsRefusedBeforeAnyFileOrBanner() throws {
    fixture = try TrainingShellFixture(name: "train-check-prompt")
    let t = TestSession()
    try t.run("load \(fixture.model.path)\ndataset \(fixture.data.path)\nlora rank=2")
    let out = fixture.folder.appendingPathComponent("runs")
    XCTAssertThrowsError(try t.run("train epochs=1 prompt=\"\(Self.rareWords)\" out=\(out.path) log=all")) { error in
      XCTAssertTrue("\(error)".contains("outside the model's vocabulary"), "\(error)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "no out= folder, no logs")
    XCTAssertFalse(t.errText.contains("training default"), t.errText)
  }

  func testACaptionOutsideTheVocabularyIsRefusedBeforeAnyFile() throws {
    var captions = TrainingShellFixture.tinyCaptions
    captions[2] = "a man and a " + Self.rareWords
    fixture = try TrainingShellFixture(name: "train-check-caption", captions: captions)
    let t = TestSession()
    try t.run("load \(fixture.model.path)\ndataset \(fixture.data.path)\nlora rank=2")
    let out = fixture.folder.appendingPathComponent("runs")
    XCTAssertThrowsError(try t.run("train epochs=1 prompt=\"a photo of\" out=\(out.path) log=jsonl")) { error in
      XCTAssertTrue("\(error)".contains("i2.jpg") && "\(error)".contains("vocabulary"), "\(error)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
  }

  func testUnmergeKeepsTheAdapterActiveAndTrainAfterMergeSaysUnmerge() throws {
    fixture = try TrainingShellFixture(name: "train-merged")
    let t = TestSession()
    try t.run("load \(fixture.model.path)\ndataset \(fixture.data.path)\nlora mine rank=2\nmerge")
    XCTAssertThrowsError(try t.run("train epochs=1")) { error in
      XCTAssertTrue("\(error)".contains("unmerge"), "\(error)")
    }
    try t.run("unmerge")
    XCTAssertEqual(t.session.model?.adapters.active?.name, "mine")
    // Another adapter chosen while merged stays the active one.
    try t.run("merge\nlora other rank=2\nunmerge")
    XCTAssertEqual(t.session.model?.adapters.active?.name, "other")
  }

  func testSeedLayoutSavesTheFinalAdapterInOutItself() throws {
    fixture = try TrainingShellFixture(name: "train-seed-layout")
    let t = TestSession()
    let out = fixture.folder.appendingPathComponent("lora")
    try t.run(
      "load \(fixture.model.path)\ndataset \(fixture.data.path)\nlora rank=2\n"
        + "train epochs=2 batch=2 prompt=\"a photo of\" no_dropout save_every_epochs=1 save_every_steps=1 out=\(out.path) layout=reference "
        + "name=run1 log=jsonl")
    let fm = FileManager.default
    for folder in ["", "/_epoch-1", "/_step-1", "/_step-3"] {
      XCTAssertTrue(fm.fileExists(atPath: out.path + folder + "/adapter_model.safetensors"), folder)
    }
    XCTAssertTrue(fm.fileExists(atPath: out.path + "/logs/run1/train.jsonl"))
    XCTAssertFalse(fm.fileExists(atPath: out.path + "/run1"), "the name only names the logs")
  }
}
