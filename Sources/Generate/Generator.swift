// Greedy and beam-search generation for Florence-2 with transformers' semantics (SPEC §4): token-identical
// to `Florence2ForConditionalGeneration.generate` under the settings Florence-2's text_config puts in force.
//
// Public API (the shell's `caption` command calls the first; tests and tools the others):
//
//   let generator = Generator(model: model, tokenizer: tokenizer)           // settings from model.config.text
//   let captions = try generator.caption(pixelValues: px,                  // [B, 3, 768, 768]
//                                        task: "<DETAILED_CAPTION>", beams: 3, maxNewTokens: 75,
//                                        onStep: { progress in !stopRequested })  // false -> throws .cancelled
//   // -> one caption per image, post-processed as the processor does (CaptionText)
//
//   let ids = try generator.generate(pixelValues: px, promptIds: [[0, …, 2], …], settings: s)  // [[Int32]]
//   let ids = try generator.generate(encoderOutput: enc, settings: s)   // encoder output [B, S, d], reusable
//
// Output rows are `[2, 0, t1 … tm, 2]` right-padded with pad (1) to the longest row, as transformers returns
// them. Images in a batch never affect each other; an image whose search is done leaves the batch (its rows
// are dropped from the decoder state, where transformers keeps feeding them pad tokens: same result).
// `onStep` runs after every decoder step (a safe point to stop: nothing is half-written).
//
// Layout: GenerationSettings (what is in force), LogitsProcessors (repetition penalty, n-gram ban, bad words,
// min new tokens, forced BOS/EOS), SamplingWarpers (temperature, top-k, top-p, the draw),
// BeamSearchState + BeamHypotheses + TopCandidates (beam bookkeeping, model-free), LogSoftmax; prompt ids and
// caption text come from Florence2Processor.
import FlrCore
import FlrModel
import FlrProcessor
import FlrTokenizer

/// Where a generation is, reported between decoder steps.
public struct GenerationProgress: Sendable {
  /// Decoder steps done (tokens generated per row).
  public var step: Int
  /// The most steps this call can take (max_new_tokens).
  public var maxSteps: Int
  /// Images still being decoded.
  public var activeImages: Int
  public var images: Int
}

public final class Generator {
  public let model: Florence2
  public let tokenizer: BartTokenizer?
  /// Prompt -> ids and ids -> caption text, when a tokenizer is given.
  public let processor: Florence2Processor?
  /// The model's settings (text_config) with max_new_tokens 75; calls override beams and length.
  public let settings: GenerationSettings

  public init(model: Florence2, tokenizer: BartTokenizer? = nil) {
    self.model = model
    self.tokenizer = tokenizer
    processor = tokenizer.map(Florence2Processor.init)
    settings = GenerationSettings(textConfig: model.config.text, maxNewTokens: 75)
  }

  // MARK: captions

  /// Captions a batch of images: the task's prompt (FlorenceTask.prompt: "<CAPTION>" -> "What does the image
  /// describe?", any other text is a custom prompt), generation, decoding and post-processing per row.
  /// `beams` nil = the model's num_beams (3 for Florence-2).
  public func caption(
    pixelValues: Tensor, task: String = "<DETAILED_CAPTION>", beams: Int? = nil, maxNewTokens: Int = 75,
    onStep: ((GenerationProgress) -> Bool)? = nil
  ) throws -> [String] {
    try caption(
      pixelValues: pixelValues, task: task, settings: settings.with(numBeams: beams, maxNewTokens: maxNewTokens),
      onStep: onStep)
  }

  /// Captions with explicit settings (the decoding controls). With `captionStart` decoding continues after
  /// `<s>` + that text (tokenized without special tokens; see `decoderPrefix`), so every caption begins with
  /// it, as transformers returns rows generated from such decoder_input_ids.
  public func caption(
    pixelValues: Tensor, task: String, settings: GenerationSettings, captionStart: String? = nil,
    onStep: ((GenerationProgress) -> Bool)? = nil
  ) throws -> [String] {
    guard let processor else { throw GenerationError.invalidInput("captioning needs a tokenizer") }
    let prompt = try processor.promptIds(task)
    let images = pixelValues.rank == 4 ? pixelValues.shape[0] : 0
    var settings = settings
    if let captionStart { settings.decoderPrefix = try decoderPrefix(captionStart: captionStart) }
    let rows = try generate(
      pixelValues: pixelValues, promptIds: Array(repeating: prompt, count: images), settings: settings,
      onStep: onStep)
    return rows.map { processor.caption(ids: $0, task: task) }
  }

  /// The decoder tokens after the start token for a caption that begins with `text`: `<s>` (the token forced
  /// at the first step) and the text's tokens; empty text gives none.
  public func decoderPrefix(captionStart text: String) throws -> [Int32] {
    guard let tokenizer else { throw GenerationError.invalidInput("a caption start needs a tokenizer") }
    guard !text.isEmpty else { return [] }
    let bos = settings.forcedBOSTokenId ?? Int32(tokenizer.bosId)
    return [bos] + tokenizer.encode(text, addSpecialTokens: false).map(Int32.init)
  }

  // MARK: token ids

  /// pixel values [B, 3, H, W] and one prompt per image (equal lengths) -> output ids per image.
  public func generate(
    pixelValues: Tensor, promptIds: [[Int32]], settings: GenerationSettings,
    onStep: ((GenerationProgress) -> Bool)? = nil
  ) throws -> [[Int32]] {
    guard pixelValues.rank == 4, pixelValues.shape[0] == promptIds.count else {
      throw GenerationError.invalidInput(
        "pixel values \(pixelValues.shape) need one prompt per image, got \(promptIds.count) prompts")
    }
    if promptIds.isEmpty { return [] }
    let encoderOutput = try model.encode(
      imageFeatures: model.imageFeatures(pixelValues: pixelValues), promptIds: promptIds)
    return try generate(encoderOutput: encoderOutput, settings: settings, onStep: onStep)
  }

  /// Encoder output [B, S, d] -> output ids per image (greedy for numBeams 1, else beam search).
  public func generate(
    encoderOutput: Tensor, settings: GenerationSettings, onStep: ((GenerationProgress) -> Bool)? = nil
  ) throws -> [[Int32]] {
    let vocabularySize = model.languageModel.vocabSize
    try settings.validate(vocabularySize: vocabularySize, maxPositions: model.config.text.maxPositionEmbeddings)
    guard encoderOutput.rank == 3, encoderOutput.shape[2] == model.languageModel.dim else {
      throw GenerationError.invalidInput(
        "encoder output must be [B, S, \(model.languageModel.dim)], got \(encoderOutput.shape)")
    }
    let images = encoderOutput.shape[0]
    if images == 0 { return [] }
    var decoder = DecodingLoop(
      model: model, encoderOutput: encoderOutput, settings: settings, vocabularySize: vocabularySize, onStep: onStep)
    let rows = settings.numBeams == 1 ? try decoder.greedy() : try decoder.beamSearch()
    return Self.padded(rows, pad: settings.padTokenId)
  }

  /// Right-pads every row with `pad` to the longest row (transformers' batched output).
  static func padded(_ rows: [[Int32]], pad: Int32) -> [[Int32]] {
    let width = rows.map(\.count).max() ?? 0
    return rows.map { $0 + Array(repeating: pad, count: width - $0.count) }
  }
}

extension GenerationSettings {
  /// The settings transformers builds from `text_config` (SPEC §4.1): unset fields take the library defaults
  /// (1 beam, no n-gram ban, early_stopping false, length_penalty 1.0, nothing forced).
  public init(textConfig c: TextConfig, maxNewTokens: Int) {
    self.init(
      numBeams: c.numBeams ?? 1, maxNewTokens: maxNewTokens, noRepeatNgramSize: c.noRepeatNgramSize ?? 0,
      earlyStopping: c.earlyStopping ?? false, lengthPenalty: Double(c.lengthPenalty ?? 1.0),
      decoderStartTokenId: Int32(c.decoderStartTokenId), forcedBOSTokenId: c.forcedBosTokenId.map(Int32.init),
      forcedEOSTokenId: c.forcedEosTokenId.map(Int32.init), eosTokenId: Int32(c.eosTokenId),
      padTokenId: Int32(c.padTokenId))
  }
}
