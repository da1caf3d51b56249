// Sampling (HF `do_sample=True`, `_sample` in generation/utils.py): after the logits processors, the warpers
// TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper (generation/logits_process.py, in
// `_get_logits_processor`'s order, min_tokens_to_keep 1 as for one beam), then softmax and one draw. The warped
// scores match transformers'; the draw is flr's own seeded stream (torch.multinomial's is not reproduced).
import FlrCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

struct SamplingWarpers {
  let sampling: GenerationSettings.Sampling

  /// Rewrites one row of processed scores into the warped scores (filtered entries -inf).
  func apply(_ scores: UnsafeMutablePointer<Float>, vocabularySize: Int) {
    let V = vocabularySize
    if sampling.temperature != 1 {
      for i in 0..<V { scores[i] = scores[i] / sampling.temperature }
    }
    if sampling.topK > 0 { keepTopK(scores, count: V, k: min(sampling.topK, V)) }
    if sampling.topP < 1 { keepTopP(scores, count: V, p: sampling.topP) }
  }

  /// Entries strictly below the k-th largest score become -inf (ties with it stay, as in the reference).
  func keepTopK(_ scores: UnsafeMutablePointer<Float>, count: Int, k: Int) {
    guard k < count else { return }
    var sorted = Array(UnsafeBufferPointer(start: scores, count: count))
    sorted.sort(by: >)
    let kth = sorted[k - 1]
    for i in 0..<count where scores[i] < kth { scores[i] = -.infinity }
  }

  /// Nucleus filter: sort ascending, softmax, cumulative sum (accumulated in double as PyTorch's CPU cumsum,
  /// stored as float); entries whose cumulative probability is ≤ 1 - p are removed, the largest always stays.
  func keepTopP(_ scores: UnsafeMutablePointer<Float>, count: Int, p: Double) {
    let order = (0..<count).sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    let maxScore = scores[order[count - 1]]
    guard maxScore.isFinite else { return }
    var probabilities = order.map { expf(scores[$0] - maxScore) }
    let total = probabilities.reduce(0, +)
    for i in probabilities.indices { probabilities[i] /= total }
    let threshold = Float(1 - p)
    var cumulative = 0.0
    var removed: [Int] = []
    for (rank, index) in order.enumerated() where rank < count - 1 {
      cumulative += Double(probabilities[rank])
      if Float(cumulative) <= threshold { removed.append(index) } else { break }
    }
    for index in removed { scores[index] = -.infinity }
  }

  /// One token from softmax(scores): the first index whose cumulative probability exceeds a uniform draw.
  static func draw(_ scores: UnsafePointer<Float>, count: Int, rng: inout SeededRNG) -> Int32 {
    var maxScore = -Float.infinity
    for i in 0..<count where scores[i] > maxScore { maxScore = scores[i] }
    guard maxScore.isFinite else { return 0 }
    var total = 0.0
    for i in 0..<count { total += Double(expf(scores[i] - maxScore)) }
    let target = Double(rng.nextUInt64() >> 11) * 0x1p-53 * total
    var cumulative = 0.0
    var last = 0
    for i in 0..<count where scores[i] > -.infinity {
      cumulative += Double(expf(scores[i] - maxScore))
      last = i
      if cumulative > target { return Int32(i) }
    }
    return Int32(last)
  }
}
