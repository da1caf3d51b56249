// Training targets for caption fine-tuning (SPEC.md §3.14, §5.4): labels = `<s> caption </s>` token ids, padded
// to the batch's longest with -100 (ignored by the loss; the first `</s>` stays a target), and decoder inputs =
// shift_tokens_right(labels): position 0 = decoder_start_token_id 2, then labels[..<T-1] with -100 -> pad 1.
//
// The reference script pads labels to max_length 1024 with pad id 1 and trains on the pads (SPEC §3.14); flr masks
// pads. Padding to the batch's longest instead of 1024 changes nothing else: the decoder is causal, so a position's
// logits do not depend on later positions, and -100 positions add nothing to the mean.

public enum CaptionLabels {
  public static let ignoreIndex: Int32 = -100

  /// `ids[b]`: label ids of item b (`<s> ... </s>`, already cut to max_length). Returns [B, T] arrays, T = longest.
  public static func make(_ ids: [[Int]], decoderStart: Int = 2, pad: Int = 1) -> (
    labels: [Int32], decoderInputIds: [Int32], length: Int
  ) {
    let length = ids.map(\.count).max() ?? 0
    var labels = [Int32](repeating: ignoreIndex, count: ids.count * length)  // [B, T]
    var decoderInputs = [Int32](repeating: Int32(pad), count: ids.count * length)  // [B, T]
    for (b, row) in ids.enumerated() {
      for (t, id) in row.enumerated() { labels[b * length + t] = Int32(id) }
      guard length > 0 else { continue }
      decoderInputs[b * length] = Int32(decoderStart)
      for t in 1..<max(length, 1) {
        let previous = labels[b * length + t - 1]
        decoderInputs[b * length + t] = previous == ignoreIndex ? Int32(pad) : previous
      }
    }
    return (labels, decoderInputs, length)
  }
}
