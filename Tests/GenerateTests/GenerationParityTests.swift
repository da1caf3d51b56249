// Greedy and beam-search token ids against transformers' `generate` (Tests/Fixtures/generate/cases.json):
// 3 prompts x beams 1-4 x max_new_tokens {1, 2, 7, 16, 40} x 4 `</s>` biases, each a batch of 2 images.
// Tolerance: none. Ids must be identical; the model's logits agree with PyTorch to ~1e-6, far below the gaps
// between competing candidates on these weights (a near-tie would show up as a mismatch here).
import FlrCore
import FlrModel
import FlrProcessor
import FlrTokenizer
import XCTest

@testable import FlrGenerate

final class GenerationParityTests: XCTestCase {
  func testTokenIdsMatchTransformersGenerate() throws {
    let document = try GenerateFixtures.document()
    try GenerateFixtures.withLoaded(document) { fixture in
      let (model, generator) = (fixture.model, fixture.generator)
      var encoderOutputs: [Int: Tensor] = [:]
      var mismatches: [String] = []
      var checked = 0
      var earlyRows = 0
      for c in document.cases {
        fixture.setEosBias(c.eos_bias)
        if encoderOutputs[c.prompt] == nil {
          let prompt = document.prompts[c.prompt]
          encoderOutputs[c.prompt] = try model.encode(imageFeatures: fixture.features, promptIds: [prompt, prompt])
        }
        let settings = generator.settings.with(numBeams: c.beams, maxNewTokens: c.max_new_tokens)
        let ids = try generator.generate(encoderOutput: encoderOutputs[c.prompt]!, settings: settings)
        checked += 1
        earlyRows += c.output_ids.filter { CaptionText.trimmed($0).count < c.max_new_tokens + 1 }.count
        if ids != c.output_ids {
          mismatches.append(
            "eos_bias \(c.eos_bias) prompt \(c.prompt) beams \(c.beams) max_new \(c.max_new_tokens):\n"
              + "  flr  \(ids)\n  torch \(c.output_ids)")
        }
      }
      XCTAssertEqual(checked, 240, "cases.json should hold 240 cases")
      XCTAssertGreaterThan(earlyRows, 20, "the fixture should contain rows that end before the length limit")
      XCTAssertTrue(
        mismatches.isEmpty,
        "\(mismatches.count) of \(checked) cases differ:\n" + mismatches.prefix(8).joined(separator: "\n"))
    }
  }

  /// Decoded text (skip_special_tokens=False) and the caption (`post_process_generation` for a pure_text task,
  /// on the row cut at its first `</s>`) equal the reference's, for every fixture row.
  func testCaptionTextMatchesProcessor() throws {
    let document = try GenerateFixtures.document()
    let tokenizer = try GenerateFixtures.tokenizer()
    var mismatches: [String] = []
    for c in document.cases {
      for (row, ids) in c.output_ids.enumerated() {
        let decoded = tokenizer.decode(ids.map(Int.init), skipSpecialTokens: false)
        let caption = CaptionText.caption(ids: ids, tokenizer: tokenizer)
        if !decoded.unicodeScalars.elementsEqual(c.decoded[row].unicodeScalars) {
          mismatches.append("decoded \(ids): \(decoded.debugDescription) vs \(c.decoded[row].debugDescription)")
        }
        if !caption.unicodeScalars.elementsEqual(c.captions[row].unicodeScalars) {
          mismatches.append("caption \(ids): \(caption.debugDescription) vs \(c.captions[row].debugDescription)")
        }
      }
    }
    XCTAssertTrue(
      mismatches.isEmpty, "\(mismatches.count) texts differ:\n" + mismatches.prefix(8).joined(separator: "\n"))
  }
}
