// The one error every image entry point throws: which file, and what is wrong with it.

public struct ImageError: Error, CustomStringConvertible, Equatable {
  public enum Kind: Sendable, Equatable {
    case unreadable  // the file could not be read at all
    case notAnImage  // the bytes are no image format flr reads (ImageFormat)
    case corrupt  // a known format, but truncated or damaged
    case zeroSize  // width or height is 0
    case tooLarge  // more pixels than `ImageDecoder.maxPixels`
    case unsupported  // a valid file of a kind flr does not read (animated WebP, 12-bit JPEG, ...)
  }

  public let file: String
  public let kind: Kind
  public let problem: String

  public init(file: String, kind: Kind, problem: String) {
    self.file = file
    self.kind = kind
    self.problem = problem
  }

  public var description: String { "\(file): \(problem)" }
}
