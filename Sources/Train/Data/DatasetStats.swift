// What `show dataset` prints about a loaded dataset.
import Foundation

public struct DatasetStats: Sendable, Equatable {
  public let items: Int
  public let train: Int
  public let eval: Int
  public let skipped: Int
  /// Label lengths in tokens (`<s> caption </s>`), one per item, before any max_length cut.
  public let tokenLengths: [Int]
  public let residentImages: Int
  public let residentBytes: Int
  /// The feature cache's line (FeatureCache.summary).
  public var featureCache = ""

  public var minTokens: Int { tokenLengths.min() ?? 0 }
  public var maxTokens: Int { tokenLengths.max() ?? 0 }
  public var meanTokens: Double {
    tokenLengths.isEmpty ? 0 : Double(tokenLengths.reduce(0, +)) / Double(tokenLengths.count)
  }

  /// Items whose label would be cut by `maxLength`.
  public func longerThan(_ maxLength: Int) -> Int { tokenLengths.count(where: { $0 > maxLength }) }

  public var description: String {
    """
    images: \(items) (train \(train), eval \(eval)), skipped \(skipped)
    caption tokens (<s> ... </s>): min \(minTokens), mean \(String(format: "%.1f", meanTokens)), max \(maxTokens)
    memory: \(residentImages) of \(items) images resident, \(Self.mebibytes(residentBytes))
    """ + (featureCache.isEmpty ? "" : "\nimage features: \(featureCache)")
  }

  public static func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
}
