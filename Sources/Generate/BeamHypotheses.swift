// The finished-hypothesis list of one image in beam search: transformers 4.48 `BeamHypotheses`
// (generation/beam_search.py), as SPEC §4.2 steps 5 and 8 describe it. Scores are float64, as the
// reference stores `next_score.item() / generated_len ** length_penalty` in a Python float.

struct BeamHypotheses {
  struct Entry {
    /// Token list without the final `</s>` (start token included).
    var tokens: [Int32]
    var score: Double
  }

  /// Room for this many entries (the number of beams).
  let capacity: Int
  let lengthPenalty: Double
  /// In insertion order: ties are broken by it (evict the earliest, return the latest).
  private(set) var entries: [Entry] = []

  init(capacity: Int, lengthPenalty: Double) {
    self.capacity = capacity
    self.lengthPenalty = lengthPenalty
  }

  /// With early_stopping true an image is done once the list is full.
  var isFull: Bool { entries.count >= capacity }

  /// Offers a hypothesis whose summed log-probability is `sumLogProbs` over `generatedLength` tokens.
  mutating func offer(tokens: [Int32], sumLogProbs: Float, generatedLength: Int) {
    let score = Double(sumLogProbs) / pow(Double(generatedLength), lengthPenalty)
    if entries.count < capacity {
      entries.append(Entry(tokens: tokens, score: score))
      return
    }
    guard let worst = entries.indices.min(by: { entries[$0].score < entries[$1].score }),
      score > entries[worst].score
    else { return }
    // `min(by:)` returns the first of equal minima: the earliest inserted, which the reference evicts.
    entries.append(Entry(tokens: tokens, score: score))
    entries.remove(at: worst)
  }

  /// The highest-scoring entry; among exactly equal scores the one inserted last.
  var best: Entry? {
    var best: Entry?
    for entry in entries where best.map({ entry.score >= $0.score }) ?? true { best = entry }
    return best
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
