// The generation settings in force for Florence-2 captioning (SPEC §4.1): transformers builds them from
// `text_config` (num_beams 3, no_repeat_ngram_size 3, early_stopping true, forced BOS 0 at the first step,
// forced EOS 2 at the last, decoder start 2) plus library defaults (length_penalty 1.0); the caller's
// max_new_tokens fixes the length limit. The decoding controls beyond Florence-2's (repetition_penalty,
// min_new_tokens, bad_words_ids, a decoder prefix, sampling) default to transformers' "off" values.

/// Why generation cannot start: bad settings or inputs, named so the user can fix them.
public enum GenerationError: Error, CustomStringConvertible {
  case invalidSetting(String)
  case invalidInput(String)
  /// The progress hook asked to stop (between two decoder steps).
  case cancelled

  public var description: String {
    switch self {
    case .invalidSetting(let message): return "generation settings: \(message)"
    case .invalidInput(let message): return "generation input: \(message)"
    case .cancelled: return "generation cancelled"
    }
  }
}

public struct GenerationSettings: Sendable, Equatable {
  /// 1 = greedy search; k ≥ 2 = beam search with k beams.
  public var numBeams: Int
  /// At most this many tokens follow the decoder start token; the last of them is forced to `</s>`.
  public var maxNewTokens: Int
  public var noRepeatNgramSize: Int
  /// With `true` an image stops as soon as `numBeams` hypotheses have finished (HF `early_stopping=True`).
  /// Only `true` is implemented (it is what every Florence-2 config sets).
  public var earlyStopping: Bool
  public var lengthPenalty: Double
  public var decoderStartTokenId: Int32
  /// Forced at the first generated step (HF `forced_bos_token_id`); nil = not forced.
  public var forcedBOSTokenId: Int32?
  /// Forced at the last allowed step (HF `forced_eos_token_id`); nil = not forced.
  public var forcedEOSTokenId: Int32?
  public var eosTokenId: Int32
  public var padTokenId: Int32
  /// HF `repetition_penalty`: every token already in the row is divided (score > 0) or multiplied (score < 0)
  /// by it; 1 = off.
  public var repetitionPenalty: Float = 1
  /// HF `min_new_tokens`: `</s>` is banned until this many tokens follow the decoder prompt.
  public var minNewTokens = 0
  /// HF `bad_words_ids`: token sequences that are never completed (a one-token entry is always banned).
  public var badWordsIds: [[Int32]] = []
  /// Tokens after the decoder start token that decoding continues from (HF `decoder_input_ids[1...]`, e.g.
  /// `[0] + tokens of "A photo of"`); they are part of the output row. Empty: the usual start.
  public var decoderPrefix: [Int32] = []
  /// Sampling (HF `do_sample=True`) with its warpers; nil = greedy / beam search.
  public var sampling: Sampling?

  /// HF's sampling warpers with transformers' defaults (temperature 1, top_k 50, top_p 1). The draw itself is
  /// flr's: row r of a call draws from SeededRNG(seed + r), so a caption depends on its image's seed only.
  public struct Sampling: Sendable, Equatable {
    public var temperature: Float = 1
    /// 0 = no top-k filter.
    public var topK = 50
    public var topP: Double = 1
    public var seed: UInt64 = 0
    public init(temperature: Float = 1, topK: Int = 50, topP: Double = 1, seed: UInt64 = 0) {
      self.temperature = temperature
      self.topK = topK
      self.topP = topP
      self.seed = seed
    }
  }

  /// Florence-2's `text_config` values (identical for base and large; SPEC §1.3).
  public static let florence2 = GenerationSettings(
    numBeams: 3, maxNewTokens: 75, noRepeatNgramSize: 3, earlyStopping: true, lengthPenalty: 1.0,
    decoderStartTokenId: 2, forcedBOSTokenId: 0, forcedEOSTokenId: 2, eosTokenId: 2, padTokenId: 1)

  public init(
    numBeams: Int, maxNewTokens: Int, noRepeatNgramSize: Int, earlyStopping: Bool, lengthPenalty: Double,
    decoderStartTokenId: Int32, forcedBOSTokenId: Int32?, forcedEOSTokenId: Int32?, eosTokenId: Int32,
    padTokenId: Int32
  ) {
    self.numBeams = numBeams
    self.maxNewTokens = maxNewTokens
    self.noRepeatNgramSize = noRepeatNgramSize
    self.earlyStopping = earlyStopping
    self.lengthPenalty = lengthPenalty
    self.decoderStartTokenId = decoderStartTokenId
    self.forcedBOSTokenId = forcedBOSTokenId
    self.forcedEOSTokenId = forcedEOSTokenId
    self.eosTokenId = eosTokenId
    self.padTokenId = padTokenId
  }

  /// The same settings with other beams / length.
  public func with(numBeams: Int? = nil, maxNewTokens: Int? = nil) -> GenerationSettings {
    var s = self
    if let numBeams { s.numBeams = numBeams }
    if let maxNewTokens { s.maxNewTokens = maxNewTokens }
    return s
  }

  /// The decoder tokens given before generation: the start token and the prefix (HF `decoder_prompt_len`).
  public var promptLength: Int { 1 + decoderPrefix.count }

  /// Total decoder length limit including the start token and prefix (HF `max_length` = max_new_tokens + prompt).
  public var maxLength: Int { maxNewTokens + promptLength }

  func validate(vocabularySize: Int, maxPositions: Int?) throws {
    guard numBeams >= 1 else { throw GenerationError.invalidSetting("beams must be at least 1, got \(numBeams)") }
    guard maxNewTokens >= 1 else {
      throw GenerationError.invalidSetting("max new tokens must be at least 1, got \(maxNewTokens)")
    }
    if let maxPositions, maxLength > maxPositions {
      throw GenerationError.invalidSetting(
        "max new tokens \(maxNewTokens) needs \(maxLength) decoder positions; the model has \(maxPositions)")
    }
    guard noRepeatNgramSize >= 0 else {
      throw GenerationError.invalidSetting("no_repeat_ngram_size must be >= 0, got \(noRepeatNgramSize)")
    }
    guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
      throw GenerationError.invalidSetting("repetition_penalty must be > 0, got \(repetitionPenalty)")
    }
    guard minNewTokens >= 0 else {
      throw GenerationError.invalidSetting("min_new_tokens must be >= 0, got \(minNewTokens)")
    }
    if let sampling {
      guard numBeams == 1 else {
        throw GenerationError.invalidSetting("sampling draws one token per step: use it with beams=1")
      }
      guard sampling.temperature > 0, sampling.temperature.isFinite else {
        throw GenerationError.invalidSetting("temperature must be > 0, got \(sampling.temperature)")
      }
      guard sampling.topK >= 0 else { throw GenerationError.invalidSetting("top_k must be >= 0, got \(sampling.topK)") }
      guard sampling.topP >= 0, sampling.topP <= 1 else {
        throw GenerationError.invalidSetting("top_p must be in 0...1, got \(sampling.topP)")
      }
    }
    for id in badWordsIds.joined() + decoderPrefix where id < 0 || Int(id) >= vocabularySize {
      throw GenerationError.invalidSetting("token id \(id) is outside the vocabulary (\(vocabularySize))")
    }
    if badWordsIds.contains(where: \.isEmpty) { throw GenerationError.invalidSetting("a bad-words entry is empty") }
    guard earlyStopping else {
      throw GenerationError.invalidSetting("only early_stopping=true is implemented (Florence-2's setting)")
    }
    for (name, id) in [
      ("decoder start", decoderStartTokenId), ("eos", eosTokenId), ("pad", padTokenId),
      ("forced bos", forcedBOSTokenId ?? 0), ("forced eos", forcedEOSTokenId ?? 0),
    ] where id < 0 || Int(id) >= vocabularySize {
      throw GenerationError.invalidSetting("\(name) token id \(id) is outside the vocabulary (\(vocabularySize))")
    }
  }
}
