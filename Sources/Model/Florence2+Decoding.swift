// Incremental decoding for generation (FlrGenerate), the KV-cache path of the remote code's
// Florence2LanguageForConditionalGeneration.forward with past_key_values.
//
// API (for the generation engineer):
//
//   let encoderOutput = try model.encode(imageFeatures: model.imageFeatures(pixelValues: px), promptIds: ids)
//   var state = model.prepareDecoding(encoderOutput: encoderOutput, beamsPerImage: 3)  // rows = images × beams
//   var logits = try model.decoderStep(tokens: [2, 2, 2, …], state: &state)  // [rows, V], the new position's
//   try state.reorder(beamIndices)   // new row i continues old row beamIndices[i] (HF _reorder_cache)
//   logits = try model.decoderStep(tokens: nextTokens, state: &state)
//   logits = try model.decoderStep(tokens: t, state: &state) { row, rowLogits in … }  // + per-row work, in the step
//
// Row r of every call belongs to image r / beamsPerImage (after reorder: state.imageOfRow[r]). Cross-attention
// keys/values are computed once per image in prepareDecoding and shared by its beams; self-attention keys and
// values are appended per step. The logits are those of the full-sequence decoder at the same position
// (tests compare them), including final_logits_bias; no logits processing happens here. The logits come from
// LanguageModel.logits, so a LoRA on lm_head (tied head) applies to every step as it does to the full decoder.
import FlrCore

extension Florence2 {
  /// Computes every layer's cross-attention keys/values for encoder output [images, S, d]. A bf16 or int8 model
  /// keeps them as bf16, half the bytes a step reads besides the weights (scripts/precision_check.py's "step err"
  /// measures the decoding step with them: on base it stays at the forward's logits error).
  public func prepareDecoding(encoderOutput: Tensor, beamsPerImage: Int = 1, capacity: Int = 32) -> DecoderState {
    let images = encoderOutput.shape[0], s = encoderOutput.shape[1]
    let (keys, values) = languageModel.decoder.crossKeysValues(encoderOutput)
    let imageOfRow = (0..<images).flatMap { Array(repeating: $0, count: max(1, beamsPerImage)) }
    return DecoderState(
      crossKeys: keys, crossValues: values, imageOfRow: imageOfRow, encoderLength: s, dim: languageModel.dim,
      heads: config.text.decoderAttentionHeads, capacity: capacity, bf16CrossCache: weightPrecision != .fp32)
  }

  /// Feeds one token per row at position state.length -> logits [rows, V] of that position.
  public func decoderStep(tokens: [Int32], state: inout DecoderState) throws -> Tensor {
    try decoderStep(tokens: tokens, state: &state, eachRow: nil)
  }

  /// decoderStep, then `eachRow(r, logits + r·V)` for every row r, rows concurrently (each on one worker, so the
  /// kernels it calls run serially there): in the step's parallel region right after the LM head where the step runs
  /// as one, else a parallel loop after the step. The search's per-row work (log-softmax, processors, candidates)
  /// then needs no fork/join of its own and reads the logits while they are in cache.
  public func decoderStep(
    tokens: [Int32], state: inout DecoderState, eachRow: ((Int, UnsafeMutablePointer<Float>) -> Void)?
  ) throws -> Tensor {
    guard tokens.count == state.rows else {
      throw ModelError(file: "decoder step", "\(tokens.count) tokens for \(state.rows) rows")
    }
    let v = Int32(languageModel.vocabSize)
    if let bad = tokens.first(where: { $0 < 0 || $0 >= v }) {
      throw ModelError(file: "decoder step", "token id \(bad) is outside the vocabulary (ids 0 to \(v - 1))")
    }
    if let logits = try languageModel.stagedStep(tokens, state: &state, eachRow: eachRow) { return logits }
    let hidden = try languageModel.decoder.step(tokens, state: &state, shared: languageModel.shared)
    let logits = languageModel.logits(hidden)
    if let eachRow {
      let scope = Profile.begin(.search)
      defer { Profile.end(scope) }
      let n = languageModel.vocabSize
      Threads.parallelFor(logits.shape[0]) { eachRow($0, logits.data + $0 * n) }
    }
    return logits
  }
}
