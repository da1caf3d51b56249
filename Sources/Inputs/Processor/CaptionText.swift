// Output ids -> caption text, as the Florence-2 processor gives it (SPEC §4.3): decode with
// skip_special_tokens=False (so `</s><s>A cat.</s>`), then `post_process_generation`, which for pure_text
// tasks removes every `<s>` and `</s>` and nothing else (current remote-code processor).
//
// One deliberate difference from the reference captioner at batch size > 1: a padded row is decoded only up to
// its first `</s>` after the start token, so captions never end in `<pad><pad>…` (the reference script's
// batch_decode + post_process keeps those pads; SPEC §4.3). At batch size 1 there is no padding and the two
// agree exactly.
import FlrTokenizer

public enum CaptionText {
  /// The row without its right padding: up to and including the first `</s>` after position 0.
  public static func trimmed(_ ids: [Int32], eos: Int32 = 2) -> [Int32] {
    guard ids.count > 1, let end = ids[1...].firstIndex(of: eos) else { return ids }
    return Array(ids[...end])
  }

  /// The caption of one output row. Tasks whose post-processing parses boxes or polygons (`<OD>`, …) get
  /// the same text (location tokens kept as `<loc_N>`): flr does not parse them.
  public static func caption(
    ids: [Int32], tokenizer: BartTokenizer, postProcessing: FlorenceTask.PostProcessing = .pureText
  ) -> String {
    let eos = Int32(tokenizer.eosId)
    let text = tokenizer.decode(trimmed(ids, eos: eos).map(Int.init), skipSpecialTokens: false)
    return FlorenceTask.pureText(text)
  }
}
