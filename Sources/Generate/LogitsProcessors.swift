// The logits processors of transformers' `_get_logits_processor` (generation/utils.py) that flr supports, in
// its order: RepetitionPenalty, NoRepeatNGram, NoBadWords, MinNewTokensLength, ForcedBOSToken, ForcedEOSToken
// (generation/logits_process.py). Florence-2's own settings use only the n-gram ban and the two forced tokens
// (SPEC §4.2 step 3). Each rewrites one row of V scores in place: raw logits for greedy search and sampling,
// log-probabilities for beam search. The sampling warpers follow them (SamplingWarpers).

struct LogitsProcessors {
  let settings: GenerationSettings
  /// bad_words_ids without the entries transformers drops (`[eos]` alone).
  let badWords: [[Int32]]

  init(settings: GenerationSettings) {
    self.settings = settings
    badWords = settings.badWordsIds.filter { $0 != [settings.eosTokenId] }
  }

  /// Processes the scores of one row whose token list (start token and prefix included) is `tokens`, at length
  /// L = tokens.count, with M = settings.maxLength.
  func apply(_ scores: UnsafeMutablePointer<Float>, vocabularySize: Int, tokens: [Int32]) {
    let length = tokens.count
    if settings.repetitionPenalty != 1 {
      penalizeRepetitions(scores, vocabularySize: vocabularySize, tokens: tokens, penalty: settings.repetitionPenalty)
    }
    if settings.noRepeatNgramSize > 0 {
      banRepeatedNgrams(scores, vocabularySize: vocabularySize, tokens: tokens, n: settings.noRepeatNgramSize)
    }
    if !badWords.isEmpty { banBadWords(scores, vocabularySize: vocabularySize, tokens: tokens) }
    if length - settings.promptLength < settings.minNewTokens {
      let eos = Int(settings.eosTokenId)
      if eos < vocabularySize { scores[eos] = -.infinity }
    }
    if let bos = settings.forcedBOSTokenId, length == 1 {
      force(scores, vocabularySize: vocabularySize, token: bos)
    }
    // After forced BOS, so that with max_new_tokens 1 `</s>` wins (SPEC §4.2 3c).
    if let eos = settings.forcedEOSTokenId, length == settings.maxLength - 1 {
      force(scores, vocabularySize: vocabularySize, token: eos)
    }
  }

  /// Each distinct token of the row once (the reference gathers, then scatters): score < 0 is multiplied by the
  /// penalty, otherwise divided, in float32. The start token counts too (it is in the reference's input_ids).
  func penalizeRepetitions(
    _ scores: UnsafeMutablePointer<Float>, vocabularySize: Int, tokens: [Int32], penalty: Float
  ) {
    var seen = Set<Int32>()
    for token in tokens where token >= 0 && Int(token) < vocabularySize && seen.insert(token).inserted {
      let score = scores[Int(token)]
      scores[Int(token)] = score < 0 ? score * penalty : score / penalty
    }
  }

  /// Bans every token that would complete an n-gram already present in `tokens`: for each window
  /// tokens[i ..< i+n] whose first n-1 tokens equal the last n-1 tokens, tokens[i+n-1] becomes -inf.
  /// (The window ending at the current suffix needs one more token, so i ≤ L - n.)
  func banRepeatedNgrams(_ scores: UnsafeMutablePointer<Float>, vocabularySize: Int, tokens: [Int32], n: Int) {
    let length = tokens.count
    guard n >= 1, length >= n else { return }
    let prefixStart = length - (n - 1)
    for i in 0...(length - n) {
      var matches = true
      for j in 0..<(n - 1) where tokens[i + j] != tokens[prefixStart + j] {
        matches = false
        break
      }
      let banned = Int(tokens[i + n - 1])
      if matches && banned >= 0 && banned < vocabularySize { scores[banned] = -.infinity }
    }
  }

  /// NoBadWordsLogitsProcessor: a one-token entry is always -inf; a longer one bans its last token when the row
  /// ends with the rest of it (entries longer than the row plus one are skipped, as the reference does).
  func banBadWords(_ scores: UnsafeMutablePointer<Float>, vocabularySize: Int, tokens: [Int32]) {
    for word in badWords {
      let last = Int(word[word.count - 1])
      guard last < vocabularySize else { continue }
      let prefix = word.dropLast()
      if prefix.count > tokens.count { continue }
      if prefix.isEmpty || tokens.suffix(prefix.count).elementsEqual(prefix) { scores[last] = -.infinity }
    }
  }

  /// Every entry -inf except `token`, which becomes exactly 0.
  func force(_ scores: UnsafeMutablePointer<Float>, vocabularySize: Int, token: Int32) {
    scores.update(repeating: -.infinity, count: vocabularySize)
    scores[Int(token)] = 0
  }
}
