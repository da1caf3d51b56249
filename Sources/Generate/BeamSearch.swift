// Beam search for one image: transformers 4.48 `_beam_search` + `BeamSearchScorer.process/finalize`
// (generation/utils.py, generation/beam_search.py) under Florence-2's settings, step by step as SPEC §4.2
// writes it. Model-free: it sees only each step's logits and says which beam each new row continues.
import FlrCore

struct BeamSearchState {
  let numBeams: Int
  let vocabularySize: Int
  let settings: GenerationSettings
  /// Running beams: token lists of equal length L, starting with the decoder start token.
  private(set) var beams: [[Int32]]
  /// Running scores (summed processed log-probabilities), float32 as in the reference.
  private(set) var beamScores: [Float]
  private(set) var finished: BeamHypotheses
  private(set) var isDone = false

  let processors: LogitsProcessors

  init(settings: GenerationSettings, vocabularySize: Int) {
    numBeams = settings.numBeams
    self.vocabularySize = vocabularySize
    self.settings = settings
    processors = LogitsProcessors(settings: settings)
    beams = Array(repeating: [settings.decoderStartTokenId] + settings.decoderPrefix, count: numBeams)
    // Only copies of beam 0 can win the first step.
    beamScores = [0] + Array(repeating: -1e9, count: numBeams - 1)
    finished = BeamHypotheses(capacity: numBeams, lengthPenalty: settings.lengthPenalty)
  }

  var length: Int { beams[0].count }

  /// Beam b's share of a step, on its own (the rows of every image run concurrently, each on one worker, while
  /// the LM head's output is in cache). `row` holds the beam's V last-position logits (float32) and is overwritten
  /// with its processed log-probabilities (steps 2-3); `top` becomes the beam's 2k best candidates of step 4,
  /// c[b, x] = logProb[b, x] + beamScores[b] at flat index b·V + x.
  func scoreRow(_ b: Int, logits row: UnsafeMutablePointer<Float>, into top: inout TopCandidates) {
    let V = vocabularySize
    LogSoftmax.inPlace(row, count: V)
    processors.apply(row, vocabularySize: V, tokens: beams[b])
    top.removeAll()
    top.scan(row, count: V, adding: beamScores[b], base: b * V)
  }

  /// The rest of the step once every beam's row is scored (scoreRow, `rows[b]` for beam b). Returns, for each
  /// new running beam, the beam it continues (the self-attention cache rows to gather).
  mutating func advance(_ rows: UnsafeBufferPointer<TopCandidates>) -> [Int] {
    let k = numBeams
    let V = vocabularySize
    // Step 4: the 2k best of all c[b, x].
    let top = TopCandidates.merged(rows, capacity: 2 * k)

    // Step 5: the candidate walk.
    let L = length
    var nextBeams: [[Int32]] = []
    var nextScores: [Float] = []
    var sources: [Int] = []
    for rank in 0..<top.scores.count {
      let source = top.indices[rank] / V
      let token = Int32(top.indices[rank] % V)
      let score = top.scores[rank]
      if token == settings.eosTokenId {
        if rank >= k { continue }
        // Scored over the new tokens, `</s>` included (transformers 5: cur_len + 1 - decoder_prompt_len).
        finished.offer(tokens: beams[source], sumLogProbs: score, generatedLength: L + 1 - settings.promptLength)
      } else {
        nextBeams.append(beams[source] + [token])
        nextScores.append(score)
        sources.append(source)
      }
      if nextBeams.count == k { break }
    }
    // At most k of the 2k candidates are `</s>` (one per beam), so k running beams exist; keep the
    // shape even for a degenerate row (-inf everywhere) by continuing beam 0 with pad.
    while nextBeams.count < k {
      nextBeams.append(beams[0] + [settings.padTokenId])
      nextScores.append(-.infinity)
      sources.append(0)
    }
    beams = nextBeams
    beamScores = nextScores

    // Step 7: done checks after the whole walk.
    if finished.isFull || length >= settings.maxLength { isDone = true }
    return sources
  }

  /// Step 8: the output tokens of this image, `</s>` appended when below the length limit.
  func result() -> [Int32] {
    var hypotheses = finished
    if !hypotheses.isFull {
      // Stopped at the length limit (only possible without forced EOS): offer the running beams.
      for b in 0..<numBeams {
        hypotheses.offer(tokens: beams[b], sumLogProbs: beamScores[b], generatedLength: length - settings.promptLength)
      }
    }
    guard var tokens = hypotheses.best?.tokens else {
      return [settings.decoderStartTokenId] + settings.decoderPrefix + [settings.eosTokenId]
    }
    if tokens.count < settings.maxLength { tokens.append(settings.eosTokenId) }
    return tokens
  }
}
