// `lora NAME targets=…,lm_head` from the shell on the tiny demo-train model: it trains (the loss falls), `save`
// writes the lm_head LoRA pair, `merge` and `save model` untie the head, and the saved model loads back with
// the merged model's loss; on an NF4 model an lm_head LoRA trains too (the head stays fp32).
import Foundation
import XCTest

@testable import FlrShell

final class LMHeadLoRAShellTests: XCTestCase {
  static let captions = [
    "a photo of the man in a red car", "a photo of the man in one big house",
    "a photo of the man in the black water", "a photo of the man with white city street",
  ]

  func evalLosses(_ text: String) -> [Double] {
    text.split(separator: "\n").filter { $0.hasPrefix("eval: mean loss ") }.compactMap {
      Double($0.dropFirst("eval: mean loss ".count).prefix { $0 != " " })
    }
  }

  func testTrainSaveMergeAndReloadWithLMHeadLoRA() throws {
    let fixture = try TrainingShellFixture(
      name: "lmhead", modelFolder: TrainingShellFixture.fixtures.appendingPathComponent("demo-train"),
      captions: Self.captions)
    defer { fixture.remove() }
    let out = fixture.folder.appendingPathComponent("out").path
    let prompt = "\"a photo of the man in the\""
    let s = TestSession()
    try s.run(
      """
      load \(fixture.model.path)
      dataset \(fixture.data.path)
      lora head targets=q_proj,lm_head rank=4 alpha=8 seed=3
      show lora
      eval \(fixture.data.path) prompt=\(prompt)
      train epochs=2 lr=0.02 no_dropout prompt=\(prompt) log=none
      eval \(fixture.data.path) prompt=\(prompt)
      save head \(out)/adapter
      merge head
      eval \(fixture.data.path) prompt=\(prompt)
      save model \(out)/merged
      load \(out)/merged
      eval \(fixture.data.path) prompt=\(prompt)
      """)
    let text = s.out.text
    XCTAssertTrue(text.contains("targets=q_proj,lm_head"), text)
    let losses = evalLosses(text)
    XCTAssertEqual(losses.count, 4, text)
    guard losses.count == 4 else { return }
    XCTAssertLessThan(losses[1], 0.8 * losses[0], "training with an lm_head LoRA must lower the loss")
    // eval prints 4 decimals; merge and the reloaded untied model compute the same function (1e-5 relative).
    XCTAssertEqual(losses[2], losses[1], accuracy: 1e-3)
    XCTAssertEqual(losses[3], losses[2], accuracy: 1e-3)
    let keys = try String(contentsOfFile: "\(out)/adapter/adapter_config.json", encoding: .utf8)
    XCTAssertTrue(keys.contains("lm_head"), keys)
    let config = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/merged/config.json")))
        as? [String: Any])
    XCTAssertEqual(config["tie_word_embeddings"] as? Bool, false)
  }

  func testLMHeadLoRATrainsOnNF4Model() throws {
    let fixture = try TrainingShellFixture(
      name: "lmhead-nf4", modelFolder: TrainingShellFixture.fixtures.appendingPathComponent("demo-train"),
      captions: Self.captions)
    defer { fixture.remove() }
    let prompt = "\"a photo of the man in the\""
    let s = TestSession()
    try s.run(
      """
      load \(fixture.model.path) quantize=nf4
      dataset \(fixture.data.path)
      lora head targets=lm_head rank=4 alpha=8 seed=3
      eval \(fixture.data.path) prompt=\(prompt)
      train epochs=2 lr=0.02 no_dropout prompt=\(prompt) log=none
      eval \(fixture.data.path) prompt=\(prompt)
      """)
    let losses = evalLosses(s.out.text)
    XCTAssertEqual(losses.count, 2, s.out.text)
    XCTAssertTrue(s.errText.contains("backward reaches decoder"), s.errText)
    if let first = losses.first, let last = losses.last { XCTAssertLessThan(last, 0.9 * first, s.out.text) }
  }
}
