import Foundation

// Where commands write. Results go to `out` (stdout), progress and diagnostics to `err` (stderr), so
// `flr -c 'caption dir' > captions.tsv` captures only captions.

public final class Output: @unchecked Sendable {
  private let writeText: (String) -> Void
  /// Whether this output is a terminal (progress bars and colours only then).
  public let isTerminal: Bool

  public init(isTerminal: Bool = false, write: @escaping (String) -> Void) {
    self.writeText = write
    self.isTerminal = isTerminal
  }

  /// A C stream, flushed after each write so that lines interleave correctly with the other stream
  /// and reach a pipe while a long command runs.
  public static func stream(_ file: UnsafeMutablePointer<FILE>) -> Output {
    Output(isTerminal: isatty(fileno(file)) == 1) { text in
      fputs(text, file)
      fflush(file)
    }
  }

  public static let standardOutput = Output.stream(stdout)
  public static let standardError = Output.stream(stderr)

  public func write(_ text: String) { writeText(text) }
  public func line(_ text: String = "") { writeText(text + "\n") }
}

/// Collects output in memory (tests, `help --markdown` into a file).
public final class CapturedOutput: @unchecked Sendable {
  public private(set) var text = ""
  public init() {}
  public lazy var output = Output { [unowned self] in self.text += $0 }
}
