// The decoding controls against transformers (Tests/Fixtures/decoding/, scripts/fixtures/decoding.py):
// greedy and beam-search token ids from `generate` with repetition_penalty, length_penalty, min_new_tokens,
// no_repeat_ngram_size, bad_words_ids and a decoder prefix on generate.py's tiny model (tolerance: none, ids
// are identical), and the processed score rows of transformers' own processor list, sampling warpers included.
import FlrCheckpoints
import FlrCore
import FlrModel
import FlrProcessor
import Foundation
import XCTest

@testable import FlrGenerate

final class DecodingControlsTests: XCTestCase {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/decoding").standardized

  struct Controls: Decodable {
    var repetition_penalty: Float?
    var length_penalty: Double?
    var min_new_tokens: Int?
    var no_repeat_ngram_size: Int?
    var bad_words_ids: [[Int32]]?
    var do_sample: Bool?
    var temperature: Float?
    var top_k: Int?
    var top_p: Double?

    /// `base` with these controls applied (transformers' sampling defaults where a warper is not given).
    func applied(to base: GenerationSettings) -> GenerationSettings {
      var s = base
      if let v = repetition_penalty { s.repetitionPenalty = v }
      if let v = length_penalty { s.lengthPenalty = v }
      if let v = min_new_tokens { s.minNewTokens = v }
      if let v = no_repeat_ngram_size { s.noRepeatNgramSize = v }
      if let v = bad_words_ids { s.badWordsIds = v }
      if do_sample == true {
        s.sampling = GenerationSettings.Sampling(
          temperature: temperature ?? 1, topK: top_k ?? 50, topP: top_p ?? 1, seed: 0)
      }
      return s
    }
  }

  struct Generation: Decodable {
    let name: String
    let beams: Int
    let max_new_tokens: Int
    let eos_bias: Float
    let prompt: Int
    let controls: Controls
    let prefix: [Int32]?
    let output_ids: [[Int32]]
  }

  struct ProcessorCase: Decodable {
    let name: String
    let controls: Controls
    let input_ids: [[Int32]]
    let decoder_prompt_length: Int
    let processors: [String]
  }

  struct Document: Decodable {
    let generations: [Generation]
    let processors: [ProcessorCase]
  }

  func document() throws -> Document {
    try JSONDecoder().decode(Document.self, from: Data(contentsOf: Self.folder.appendingPathComponent("cases.json")))
  }

  func testTokenIdsMatchTransformersGenerate() throws {
    let document = try document()
    let reference = try GenerateFixtures.document()
    try GenerateFixtures.withLoaded(reference) { fixture in
      let (model, generator) = (fixture.model, fixture.generator)
      var mismatches: [String] = []
      for c in document.generations {
        fixture.setEosBias(c.eos_bias)
        let prompt = reference.prompts[c.prompt]
        let encoderOutput = try model.encode(imageFeatures: fixture.features, promptIds: [prompt, prompt])
        var settings = c.controls.applied(
          to: generator.settings.with(numBeams: c.beams, maxNewTokens: c.max_new_tokens))
        settings.decoderPrefix = Array((c.prefix ?? [2]).dropFirst())
        let ids = try generator.generate(encoderOutput: encoderOutput, settings: settings)
        if ids != c.output_ids { mismatches.append("\(c.name):\n  flr   \(ids)\n  torch \(c.output_ids)") }
      }
      XCTAssertEqual(document.generations.count, 13)
      XCTAssertTrue(mismatches.isEmpty, mismatches.joined(separator: "\n"))
    }
  }

  /// Every processor list of the fixture, row by row: the same -inf entries and the same finite scores
  /// (float32 arithmetic in the same order; top_p's softmax and cumulative sum may differ in the last bits,
  /// which could only move an entry sitting exactly at the threshold, so 1e-6 relative is allowed).
  func testProcessedScoresMatchTransformersProcessors() throws {
    let document = try document()
    let (tensors, _) = try SafetensorsReader.read(
      path: Self.folder.appendingPathComponent("processors.safetensors").path)
    func floats(_ name: String) throws -> [Float] {
      guard let t = tensors.first(where: { $0.name == name }) else { throw GenerationTestError("no \(name)") }
      return Array(t.bytes.bindMemory(to: Float.self))
    }
    var base = GenerationSettings.florence2.with(numBeams: 1, maxNewTokens: 20)
    base.forcedBOSTokenId = nil
    base.forcedEOSTokenId = nil
    base.eosTokenId = 2
    var problems: [String] = []
    for (n, c) in document.processors.enumerated() {
      var settings = c.controls.applied(to: base)
      settings.decoderPrefix = Array(repeating: 0, count: c.decoder_prompt_length - 1)
      let scores = try floats("scores_\(n)"), expected = try floats("processed_\(n)")
      let V = scores.count / c.input_ids.count
      for (row, tokens) in c.input_ids.enumerated() {
        var processed = Array(scores[row * V..<(row + 1) * V])
        processed.withUnsafeMutableBufferPointer { p in
          LogitsProcessors(settings: settings).apply(p.baseAddress!, vocabularySize: V, tokens: tokens)
          if let sampling = settings.sampling {
            SamplingWarpers(sampling: sampling).apply(p.baseAddress!, vocabularySize: V)
          }
        }
        for i in 0..<V {
          let got = processed[i], want = expected[row * V + i]
          let same = got == want || (got.isFinite && want.isFinite && abs(got - want) <= 1e-6 * max(1, abs(want)))
          if !same { problems.append("\(c.name) row \(row) token \(i): flr \(got), transformers \(want)") }
        }
      }
    }
    XCTAssertEqual(document.processors.count, 10)
    XCTAssertTrue(problems.isEmpty, "\(problems.count) entries differ:\n" + problems.prefix(10).joined(separator: "\n"))
    // The fixture's lists are in the order LogitsProcessors + SamplingWarpers apply them.
    let order = [
      "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor", "NoBadWordsLogitsProcessor",
      "MinNewTokensLengthLogitsProcessor", "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper",
    ]
    for c in document.processors {
      let positions = c.processors.map { order.firstIndex(of: $0) ?? -1 }
      XCTAssertFalse(positions.contains(-1), "\(c.name): unknown processor in \(c.processors)")
      XCTAssertEqual(positions, positions.sorted(), "\(c.name): \(c.processors)")
    }
  }

  /// Sampling: the same seed gives the same rows, another seed other rows, and top_k=1 is greedy search.
  func testSamplingIsSeededAndTopKOneIsGreedy() throws {
    let reference = try GenerateFixtures.document()
    let model = try GenerateFixtures.model(reference)
    let generator = Generator(model: model)
    let features = try model.imageFeatures(pixelValues: GenerateFixtures.pixelValues())
    let prompt = reference.prompts[1]
    let encoderOutput = try model.encode(imageFeatures: features, promptIds: [prompt, prompt])
    let greedy = generator.settings.with(numBeams: 1, maxNewTokens: 16)
    var sampled = greedy
    sampled.sampling = GenerationSettings.Sampling(temperature: 1.5, topK: 0, topP: 1, seed: 7)
    let first = try generator.generate(encoderOutput: encoderOutput, settings: sampled)
    XCTAssertEqual(try generator.generate(encoderOutput: encoderOutput, settings: sampled), first)
    sampled.sampling?.seed = 8
    XCTAssertNotEqual(try generator.generate(encoderOutput: encoderOutput, settings: sampled), first)
    sampled.sampling = GenerationSettings.Sampling(temperature: 1.5, topK: 1, topP: 1, seed: 7)
    XCTAssertEqual(
      try generator.generate(encoderOutput: encoderOutput, settings: sampled),
      try generator.generate(encoderOutput: encoderOutput, settings: greedy))
    // Row r draws from seed + r: image 1 alone with seed 8 equals image 1 of the pair with seed 7.
    let perImage = encoderOutput.count / 2
    let secondImage = Tensor(zeros: [1] + encoderOutput.shape.dropFirst())
    secondImage.data.update(from: encoderOutput.data + perImage, count: perImage)
    sampled.sampling = GenerationSettings.Sampling(temperature: 1.5, topK: 0, topP: 1, seed: 8)
    let secondAlone = try generator.generate(encoderOutput: secondImage, settings: sampled)
    XCTAssertEqual(CaptionText.trimmed(secondAlone[0]), CaptionText.trimmed(first[1]))
  }

  func testInvalidControlsAreRefused() throws {
    let reference = try GenerateFixtures.document()
    let generator = Generator(model: try GenerateFixtures.model(reference))
    let encoderOutput = Tensor(zeros: [1, 3, generator.model.languageModel.dim])
    var beamSampling = generator.settings
    beamSampling.sampling = GenerationSettings.Sampling()
    XCTAssertThrowsError(try generator.generate(encoderOutput: encoderOutput, settings: beamSampling)) {
      XCTAssertTrue("\($0)".contains("beams=1"), "\($0)")
    }
    var badPenalty = generator.settings
    badPenalty.repetitionPenalty = 0
    XCTAssertThrowsError(try generator.generate(encoderOutput: encoderOutput, settings: badPenalty))
  }
}
