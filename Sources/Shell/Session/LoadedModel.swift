import FlrImage

// What `load` keeps resident. The engines (FlrModel, FlrTokenizer, FlrGenerate) fill it in as they
// land; until then `load` reports that it is not available, and this stays nil.

public final class LoadedModel: @unchecked Sendable {
  /// The folder the weights came from.
  public let folder: String
  /// What the user typed (`microsoft/Florence-2-base-ft` or a path).
  public let source: String
  public let revision: String?

  /// Captions a batch of decoded images, one string per image (set by whoever builds the model).
  public let caption: ([RGBImage], CaptionRequest) throws -> [String]

  public init(
    folder: String, source: String, revision: String?,
    caption: @escaping ([RGBImage], CaptionRequest) throws -> [String]
  ) {
    self.folder = folder
    self.source = source
    self.revision = revision
    self.caption = caption
  }

  /// Short name for the prompt: the hub id's last part or the folder's name.
  public var displayName: String {
    let last = source.split(separator: "/").last.map(String.init) ?? source
    return last.hasPrefix("Florence-2-") ? String(last.dropFirst("Florence-2-".count)) : last
  }
}

/// What `caption` asks of the model for one batch.
public struct CaptionRequest: Sendable {
  /// A Florence task token (`<DETAILED_CAPTION>`).
  public var task: String
  /// Free text used instead of the task's prompt, when given.
  public var prompt: String?
  public var beams: Int
  public var maxNewTokens: Int
}
