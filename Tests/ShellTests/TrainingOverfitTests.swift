import Foundation
import XCTest

@testable import FlrShell

/// End to end on Tests/Fixtures/demo-train (a tiny random model made to learn quickly, scripts/fixtures/demo.py
/// --train-model): `load; dataset; lora; train epochs=5; sample; save` overfits 4 images (below 10% of the start
/// loss). The captions share a prefix and differ in their last words, as a captioning dataset does; the JSONL log
/// gives the loss of every step, and TensorBoard events and the epoch-2 checkpoint are written. Then the images
/// are deleted and a second `lora` (another rank) and `train` run without reading them.
final class TrainingOverfitTests: XCTestCase {
  static let captions = [
    "a photo of the man in a red car", "a photo of the man in one big house",
    "a photo of the man in the black water", "a photo of the man with white city street",
  ]

  func testScriptOverfitsFourImagesThenRetrainsWithoutReadingThem() throws {
    let fixture = try TrainingShellFixture(
      name: "overfit", modelFolder: TrainingShellFixture.fixtures.appendingPathComponent("demo-train"),
      captions: Self.captions)
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let prompt = "\"a photo of the man in the\""
    let s = TestSession()
    let start = Date()
    // `eval DIR` before and after: the token-weighted loss of the 4 images with the adapter (B = 0 at first).
    try s.run(
      """
      load \(fixture.model.path)
      dataset \(fixture.data.path)
      lora first rank=32 alpha=32 seed=1 targets=q_proj,k_proj,v_proj,out_proj,fc1,fc2,lm_head
      eval \(fixture.data.path) prompt=\(prompt)
      train epochs=5 lr=0.01 no_dropout prompt=\(prompt) out=\(out) name=run log=all save_every_epochs=2
      eval \(fixture.data.path) prompt=\(prompt)
      sample n=2 task=\(prompt) beams=1
      save first \(out)/saved
      """)
    let seconds = Date().timeIntervalSince(start)
    let evals = s.out.text.split(separator: "\n").filter { $0.hasPrefix("eval: mean loss ") }.compactMap {
      Double($0.dropFirst("eval: mean loss ".count).prefix { $0 != " " })
    }
    XCTAssertEqual(evals.count, 2, s.out.text)
    let before = try XCTUnwrap(evals.first), after = try XCTUnwrap(evals.last)
    let log = try String(contentsOfFile: "\(out)/run/logs/train.jsonl", encoding: .utf8)
    XCTAssertEqual(log.split(separator: "\n").count, 20)
    print("overfit: loss \(before) -> \(after) (\(after / before) of the start) in 20 steps, \(seconds) s")
    // Measured 10.18 -> 0.59 (5.8%); other LoRA seeds 0.80 and 0.54. In 12 steps (epochs=3) it ends at
    // 0.86-1.4 (8-14%): too close to the bar to be a stable test. PyTorch + PEFT with the same model, photos and
    // settings (scripts/overfit_peft.py): 10.18 -> 0.54 (5.3%) in 20 steps, 1.06 (10.5%) in 12.
    XCTAssertLessThan(after, 0.10 * before, s.out.text)
    for file in ["run/adapter_model.safetensors", "run/adapter_config.json", "run/epoch-2/adapter_model.safetensors"] {
      XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(file)"), file)
    }
    let logs = try FileManager.default.contentsOfDirectory(atPath: "\(out)/run/logs")
    XCTAssertTrue(logs.contains { $0.hasPrefix("events.out.tfevents.") }, "\(logs)")
    XCTAssertTrue(s.errText.contains("img/s"), s.errText)
    XCTAssertEqual(s.out.text.components(separatedBy: "  truth: ").count - 1, 2, s.out.text)
    XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/saved/adapter_model.safetensors"))

    fixture.deleteImages()
    try s.run("lora second rank=4 seed=2\ntrain epochs=1 lr=0.02 no_dropout prompt=\(prompt)")
    XCTAssertFalse(s.out.text.contains("failed to decode"), s.out.text)
    XCTAssertTrue(s.out.text.contains("training second"), s.out.text)
    XCTAssertEqual(s.errText.components(separatedBy: "training done").count - 1, 2, s.errText)
  }
}
