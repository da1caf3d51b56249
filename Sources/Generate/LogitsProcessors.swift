// The three logits processors in force for Florence-2 (SPEC §4.2 step 3), in transformers' order:
// NoRepeatNGramLogitsProcessor, ForcedBOSTokenLogitsProcessor, ForcedEOSTokenLogitsProcessor
// (transformers generation/logits_process.py). Each rewrites one row of V scores in place: raw logits for
// greedy search, log-probabilities for beam search.

struct LogitsProcessors {
  let settings: GenerationSettings

  /// Processes the scores of one row whose token list (start token included) is `tokens`, at length
  /// L = tokens.count, with M = settings.maxLength.
  func apply(_ scores: UnsafeMutablePointer<Float>, vocabularySize: Int, tokens: [Int32]) {
    let length = tokens.count
    if settings.noRepeatNgramSize > 0 {
      banRepeatedNgrams(scores, vocabularySize: vocabularySize, tokens: tokens, n: settings.noRepeatNgramSize)
    }
    if let bos = settings.forcedBOSTokenId, length == 1 {
      force(scores, vocabularySize: vocabularySize, token: bos)
    }
    // After forced BOS, so that with max_new_tokens 1 `</s>` wins (SPEC §4.2 3c).
    if let eos = settings.forcedEOSTokenId, length == settings.maxLength - 1 {
      force(scores, vocabularySize: vocabularySize, token: eos)
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

  /// Every entry -inf except `token`, which becomes exactly 0.
  func force(_ scores: UnsafeMutablePointer<Float>, vocabularySize: Int, token: Int32) {
    scores.update(repeating: -.infinity, count: vocabularySize)
    scores[Int(token)] = 0
  }
}
