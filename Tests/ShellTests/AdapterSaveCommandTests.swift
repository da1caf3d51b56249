import FlrModel
import FlrTrain
import Foundation
import XCTest

@testable import FlrShell

#if canImport(Glibc)
  import Glibc
#endif

/// What the shell's `save` writes for an adapter trained in the session, and how.
///
/// Schedule-free (optimizer=prodigy-sf): `save`, `sample`, `compare`, `caption` and `eval` use the averaged weights
/// x, exactly the bytes the run's own save at the same step writes, and leave the training iterate y untouched: a
/// `train resume` after all of them ends on the same final adapter, byte for byte, as a run never stopped.
///
/// `save DIR state`: adapter, config and state files are one atomic unit. Under a file size limit that lets the
/// adapter through but not the optimizer state (as a disk filling up mid-save would), the folder keeps the old
/// adapter AND its old state, which a new session still resumes from.
final class AdapterSaveCommandTests: XCTestCase {
  static let prompt = "\"a photo of the man in the\""

  func testScheduleFreeSaveWritesTheAveragedWeightsAndTrainingGoesOnUntouched() throws {
    let fixture = try TrainingShellFixture(name: "sf-save")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let setup = "load \(fixture.model.path)\ndataset \(fixture.data.path)\n"
    // d0=1e-2 so that three steps move y and z far enough apart for captions and losses to tell x from y.
    let train =
      "train epochs=2 optimizer=prodigy-sf lr=1 optimizer_args=\"d0=1e-2\" scheduler=none seed=4 "
      + "prompt=\(Self.prompt) name=run log=none"

    // A: straight run; its own save at step 3 writes x(3), its final save x(8).
    let a = TestSession()
    try a.run(setup + "lora first rank=4 seed=1\n\(train) out=\(out)/a save_every_steps=3")
    let averaged3 = try bytes("\(out)/a/run/step-3/adapter_model.safetensors")
    let final = try bytes("\(out)/a/run/adapter_model.safetensors")

    // B: the same run stopped after step 3.
    let b = TestSession()
    try b.run(setup + "lora first rank=4 seed=1")
    try b.runStopped("\(train) out=\(out)/b", at: " step 3/8 ")
    XCTAssertTrue(b.errText.contains("training stopped at step 3/8"), b.errText)

    // The training iterate y(3), written directly (not through `save`): it must differ from x(3), else this
    // test could not tell the two apart.
    let trainer = try XCTUnwrap(b.session.training.trainer)
    try PEFTAdapterFile.save(trainer.parameters.adapter, to: "\(out)/iterate")
    XCTAssertNotEqual(try bytes("\(out)/iterate/adapter_model.safetensors"), averaged3)

    // `save` and `save DIR state` write x(3), as the run's own save does.
    try b.run("save first \(out)/saved\nsave \(out)/saved-state state")
    XCTAssertEqual(try bytes("\(out)/saved/adapter_model.safetensors"), averaged3)
    XCTAssertEqual(try bytes("\(out)/saved-state/adapter_model.safetensors"), averaged3)
    XCTAssertTrue(b.errText.contains("schedule-free: the averaged weights"), b.errText)

    // Generation and loss with the resident adapter equal those of x(3) loaded from A's save, and differ from
    // those of y(3).
    let image = fixture.data.appendingPathComponent("i0.jpg").path
    try b.run("load adapter=\(out)/a/run/step-3 name=avg\nload adapter=\(out)/iterate name=iter\nuse first")
    try b.run("compare \(image) with=first,avg,iter beams=1 task=\(Self.prompt)")
    let compared = b.out.text
    XCTAssertEqual(line(compared, "  first"), line(compared, "  avg  "), compared)
    XCTAssertNotEqual(line(compared, "  avg  "), line(compared, "  iter "), compared)
    var captions: [String: String] = [:]
    var losses: [String: String] = [:]
    var samples: [String: String] = [:]
    for name in ["first", "avg", "iter"] {
      let before = b.out.text.count
      try b.run(
        "use \(name)\ncaption \(image) beams=1 prompt=\(Self.prompt)\neval \(fixture.data.path)\n"
          + "sample n=2 beams=1 task=\(Self.prompt)")
      let text = String(b.out.text.dropFirst(before))
      captions[name] = line(text, image)
      losses[name] = line(text, "eval: mean loss")?.replacingOccurrences(of: "adapter \(name)", with: "")
      samples[name] = text.split(separator: "\n").filter { $0.hasPrefix("  model:") }.joined(separator: "\n")
    }
    XCTAssertEqual(captions["first"], captions["avg"])
    XCTAssertEqual(losses["first"], losses["avg"])
    XCTAssertEqual(samples["first"], samples["avg"])
    XCTAssertNotEqual(losses["avg"], losses["iter"], "x(3) and y(3) must give other losses: \(losses)")

    // None of it touched training: resuming ends on A's final adapter, byte for byte.
    try b.run("drop avg\ndrop iter\nuse first\ntrain resume")
    XCTAssertTrue(b.errText.contains("training done: 8 steps"), b.errText)
    XCTAssertEqual(try bytes("\(out)/b/run/adapter_model.safetensors"), final)
  }

  func testStateSaveIsOneUnitWhenTheDiskFills() throws {
    let fixture = try TrainingShellFixture(name: "state-unit")
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let setup = "load \(fixture.model.path)\ndataset \(fixture.data.path)\n"
    let train = "train epochs=2 lr=0.01 seed=4 scheduler=onecycle prompt=\(Self.prompt) name=run log=none save_state"

    let a = TestSession()
    try a.run(setup + "lora first rank=4 seed=1\n\(train) out=\(out)/a")
    let straight = try bytes("\(out)/a/run/adapter_model.safetensors")

    // B: stopped at step 3 and saved with its state; then on to step 5.
    let b = TestSession()
    try b.run(setup + "lora first rank=4 seed=1")
    try b.runStopped("\(train) out=\(out)/b", at: " step 3/8 ")
    let saved = "\(out)/saved"
    try b.run("save first \(saved) state")
    let before = try folderContents(saved)
    XCTAssertEqual(
      Set(before.keys),
      ["adapter_config.json", "adapter_model.safetensors", "trainer_state.json", "optimizer.safetensors"])
    try b.runStopped("train resume", at: " step 5/8 ")
    XCTAssertTrue(b.errText.contains("training stopped at step 5/8"), b.errText)

    // A per-file size limit above the adapter file, below the optimizer state (AdamW: m, v and the training
    // values, about 3x the adapter): the adapter alone would fit, the unit does not. Writes fail with EFBIG as
    // they would with ENOSPC.
    let adapterSize = try XCTUnwrap(before["adapter_model.safetensors"]).count
    let stateSize = try XCTUnwrap(before["optimizer.safetensors"]).count
    XCTAssertGreaterThan(stateSize, 2 * adapterSize + 4096)
    let trainer = try XCTUnwrap(b.session.training.trainer)
    XCTAssertTrue(trainer.settings.saveState)
    var failures: [String] = []
    try withFileSizeLimit(adapterSize + 4096) {
      // `save DIR state`, and the run's own save with save_state (save_every_*, final).
      do { try b.run("save first \(saved) state overwrite") } catch { failures.append("\(error)") }
      do { try trainer.save(to: URL(fileURLWithPath: saved)) } catch { failures.append("\(error)") }
    }
    XCTAssertEqual(failures.count, 2, "both saves must fail under the limit: \(failures)")
    for failure in failures { XCTAssertTrue(failure.contains("training state"), failure) }
    XCTAssertEqual(try folderContents(saved), before, "the old adapter and its old state, as they were")
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix(".") }, [],
      "no temporary folder left")

    // A new session resumes from the intact step-3 unit and ends where the straight run ended.
    let c = TestSession()
    try c.run(setup + "load adapter=\(saved)\ntrain resume")
    XCTAssertTrue(c.errText.contains("resuming from \(saved) at epoch 1, step 3/8"), c.errText)
    XCTAssertTrue(c.errText.contains("training done: 8 steps"), c.errText)
    XCTAssertEqual(try bytes("\(out)/b/run/adapter_model.safetensors"), straight)
  }

  // MARK: helpers

  func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

  func folderContents(_ folder: String) throws -> [String: Data] {
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
      files[name] = try bytes(folder + "/" + name)
    }
    return files
  }

  /// The last line of `text` starting with `prefix`, without the prefix.
  func line(_ text: String, _ prefix: String) -> String? {
    text.split(separator: "\n").last { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
  }

  /// Runs `body` with RLIMIT_FSIZE at `bytes` (SIGXFSZ ignored, so a write past it fails with EFBIG instead of
  /// ending the process; the limit binds root too, unlike a read-only folder).
  func withFileSizeLimit(_ bytes: Int, _ body: () throws -> Void) throws {
    var saved = rlimit()
    getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
    let previousHandler = signal(SIGXFSZ, SIG_IGN)
    var limit = saved
    limit.rlim_cur = rlim_t(bytes)
    XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
    defer {
      setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
      signal(SIGXFSZ, previousHandler)
    }
    try body()
  }
}
