// The generation settings in force for Florence-2 captioning (SPEC §4.1): transformers builds them from
// `text_config` (num_beams 3, no_repeat_ngram_size 3, early_stopping true, forced BOS 0 at the first step,
// forced EOS 2 at the last, decoder start 2) plus library defaults (length_penalty 1.0); the caller's
// max_new_tokens fixes the length limit.

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

  /// Total decoder length limit including the start token (HF `max_length` = max_new_tokens + 1).
  public var maxLength: Int { maxNewTokens + 1 }

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
