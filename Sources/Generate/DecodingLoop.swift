// The step loop shared by greedy and beam search: one decoder step over all live rows, the search's choice,
// the KV-cache gather. Rows of the decoder state are [active image][beam]; an image that is done leaves
// (its rows are dropped by the reorder), so later steps only compute live rows.
import FlrCore
import FlrModel

struct DecodingLoop {
  let model: Florence2
  let settings: GenerationSettings
  let vocabularySize: Int
  let onStep: ((GenerationProgress) -> Bool)?
  let images: Int
  var state: DecoderState

  init(
    model: Florence2, encoderOutput: Tensor, settings: GenerationSettings, vocabularySize: Int,
    onStep: ((GenerationProgress) -> Bool)?
  ) {
    self.model = model
    self.settings = settings
    self.vocabularySize = vocabularySize
    self.onStep = onStep
    images = encoderOutput.shape[0]
    state = model.prepareDecoding(
      encoderOutput: encoderOutput, beamsPerImage: settings.numBeams, capacity: settings.maxLength)
  }

  func report(step: Int, active: Int) throws {
    guard let onStep else { return }
    let progress = GenerationProgress(step: step, maxSteps: settings.maxNewTokens, activeImages: active, images: images)
    if !onStep(progress) { throw GenerationError.cancelled }
  }

  // MARK: greedy (SPEC §4.2, "Greedy")

  /// The decoder prompt: the start token, then the prefix decoding continues from.
  var prompt: [Int32] { [settings.decoderStartTokenId] + settings.decoderPrefix }

  /// Runs the prompt's tokens but the last through the decoder (every row alike), so that the first
  /// generating step feeds the last one. Their logits are not needed (transformers computes them and
  /// keeps only the last position's).
  mutating func prefill(rows: Int) throws {
    for token in prompt.dropLast() {
      _ = try model.decoderStep(tokens: Array(repeating: token, count: rows), state: &state)
    }
  }

  /// Processors on the raw logits, then argmax (lowest index on ties) or, with sampling, the warpers and a
  /// draw from the row's own stream, until `</s>` or the length limit. The processors and argmax are each row's
  /// share of its step (decoderStep's eachRow).
  mutating func greedy() throws -> [[Int32]] {
    let V = vocabularySize
    let processors = LogitsProcessors(settings: settings)
    let warpers = settings.sampling.map(SamplingWarpers.init)
    var streams = (0..<images).map { SeededRNG(seed: (settings.sampling?.seed ?? 0) &+ UInt64($0)) }
    var sequences = Array(repeating: prompt, count: images)
    var active = Array(0..<images)  // image of each decoder row
    let picks = RowSlots(images) { Int32(0) }  // each row's argmax, written by its share of the step
    var step = 0
    try prefill(rows: images)
    while !active.isEmpty && sequences[active[0]].count < settings.maxLength {
      let logits: Tensor  // [rows, V]
      do {
        let history = active.map { sequences[$0] }, chosen = picks.base, sampling = warpers != nil
        logits = try model.decoderStep(tokens: active.map { sequences[$0].last! }, state: &state) { row, scores in
          processors.apply(scores, vocabularySize: V, tokens: history[row])
          if !sampling { chosen[row] = Self.argmax(scores, count: V) }
        }
      }
      var keep: [Int] = []
      for (row, image) in active.enumerated() {
        let token: Int32
        if let warpers {
          let scores = logits.data + row * V
          warpers.apply(scores, vocabularySize: V)
          token = SamplingWarpers.draw(scores, count: V, rng: &streams[image])
        } else {
          token = picks.base[row]
        }
        sequences[image].append(token)
        if token != settings.eosTokenId { keep.append(row) }
      }
      step += 1
      if keep.count != active.count {
        active = keep.map { active[$0] }
        if !active.isEmpty { try state.reorder(keep) }
      }
      try report(step: step, active: active.count)
    }
    return sequences
  }

  /// torch.argmax: the first maximum (NaN never wins here): the largest value over 16 lanes, then the first
  /// entry equal to it (the entry a scan keeping each strictly larger value ends on).
  static func argmax(_ scores: UnsafePointer<Float>, count: Int) -> Int32 {
    typealias Lanes = SIMD16<Float>
    let vectorEnd = count - count % 16
    var lanes = Lanes(repeating: -.infinity)
    for i in stride(from: 0, to: vectorEnd, by: 16) {
      let x = UnsafeRawPointer(scores + i).loadUnaligned(as: Lanes.self)
      lanes.replace(with: x, where: x .> lanes)
    }
    var best = -Float.infinity
    for lane in 0..<16 where lanes[lane] > best { best = lanes[lane] }
    for i in vectorEnd..<count where scores[i] > best { best = scores[i] }
    guard best > -.infinity else { return 0 }
    var start = 0
    let target = Lanes(repeating: best)
    while start < vectorEnd && !any(UnsafeRawPointer(scores + start).loadUnaligned(as: Lanes.self) .== target) {
      start += 16
    }
    for i in start..<count where scores[i] == best { return Int32(i) }
    return 0
  }

  // MARK: beam search (SPEC §4.2 steps 1-10)

  mutating func beamSearch() throws -> [[Int32]] {
    let k = settings.numBeams
    var searches = (0..<images).map { _ in BeamSearchState(settings: settings, vocabularySize: vocabularySize) }
    var active = Array(0..<images)  // image of each block of k decoder rows
    var tokens = Array(repeating: prompt.last!, count: images * k)
    // Each decoder row's candidates, written by its share of the step (decoderStep's eachRow).
    let candidates = RowSlots(images * k) { TopCandidates(capacity: 2 * k) }
    var step = 0
    try prefill(rows: images * k)
    while !active.isEmpty {
      do {
        let running = active.map { searches[$0] }, rows = candidates.base
        _ = try model.decoderStep(tokens: tokens, state: &state) { row, logits in
          running[row / k].scoreRow(row % k, logits: logits, into: &rows[row])
        }
      }
      var sources: [Int] = []  // decoder rows the next step's rows continue
      var nextActive: [Int] = []
      tokens = []
      for (block, image) in active.enumerated() {
        let beamSources = searches[image].advance(UnsafeBufferPointer(start: candidates.base + block * k, count: k))
        guard !searches[image].isDone else { continue }
        nextActive.append(image)
        sources += beamSources.map { block * k + $0 }
        tokens += searches[image].beams.map { $0.last! }
      }
      step += 1
      active = nextActive
      // The gather copies every layer's cache; skip it when every row continues itself.
      if !active.isEmpty && sources != Array(0..<state.rows) { try state.reorder(sources) }
      try report(step: step, active: active.count)
    }
    return searches.map { $0.result() }
  }
}

/// One value per decoder row, each written by its own row's share of a step (from the workers, so kept out of a
/// Swift array's copy-on-write storage), and kept from step to step.
final class RowSlots<Element> {
  let base: UnsafeMutablePointer<Element>
  let count: Int

  init(_ count: Int, _ make: () -> Element) {
    self.count = count
    base = .allocate(capacity: max(count, 1))
    for i in 0..<count { (base + i).initialize(to: make()) }
  }

  deinit {
    base.deinitialize(count: count)
    base.deallocate()
  }
}
