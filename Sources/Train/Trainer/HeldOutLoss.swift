// The held-out loss: token-weighted mean cross-entropy over dataset items, batch 1, in the order given, with
// pads masked and no dropout (the inference forward). One mechanism for the `eval` command and for validation
// during training (`train eval_every_*`), so the two give the same number for the same weights.
import FlrModel
import FlrProcessor
import FlrTokenizer
import Foundation

public enum HeldOutLoss {
  public struct Result: Sendable, Equatable {
    /// Token-weighted mean loss.
    public var loss: Double
    /// Label tokens counted (pads excluded).
    public var tokens: Int
    /// Items whose image failed to decode (skipped, not counted).
    public var failures: [SkippedItem]
  }

  /// `checkCancelled` runs before each item (Ctrl-C). Throws when no item could be evaluated.
  public static func measure(
    model: Florence2, tokenizer: BartTokenizer, dataset: CaptionDataset, indices: [Int], promptIds: [Int32],
    maxLength: Int, checkCancelled: () throws -> Void = {}
  ) throws -> Result {
    var sum = 0.0, tokens = 0
    let batches = EpochBatches(
      dataset: dataset, epoch: 0, seed: 0, batchSize: 1, tokenizer: tokenizer, maxLength: maxLength,
      indices: indices, shuffle: false)
    for batch in batches {
      try checkCancelled()
      let pixels = Florence2Processor.pixelValues(resized: batch.pixels, positions: Array(0..<batch.count))
      let (_, loss) = try model.forward(pixelValues: pixels, promptIds: [promptIds], labels: [batch.labels])
      let kept = batch.labels.filter { $0 != -100 }.count
      sum += Double(loss) * Double(kept)
      tokens += kept
    }
    guard tokens > 0 else { throw TrainerError("no held-out item could be evaluated") }
    return Result(loss: sum / Double(tokens), tokens: tokens, failures: batches.failures)
  }
}
