import Foundation

// Where commands write. Results (captions, JSON, the tables a command was asked for) go to `out` (stdout);
// progress, summaries and errors to `err` (stderr), so `flr -c 'caption dir' > captions.tsv` captures only
// captions.

public final class Output: @unchecked Sendable {
  private let writeText: (String) -> Void
  /// Whether this output is a terminal (progress bars only then).
  public let isTerminal: Bool
  private let width: () -> Int?

  /// `columns`: the terminal's width when known (progress bars fit it).
  public init(isTerminal: Bool = false, columns: @escaping () -> Int? = { nil }, write: @escaping (String) -> Void) {
    self.writeText = write
    self.isTerminal = isTerminal
    self.width = columns
  }

  /// A C stream, flushed after each write so that lines interleave correctly with the other stream
  /// and reach a pipe while a long command runs.
  public static func stream(_ file: UnsafeMutablePointer<FILE>) -> Output {
    let descriptor = fileno(file)
    return Output(isTerminal: isatty(descriptor) == 1, columns: { terminalColumns(descriptor) }) { text in
      fputs(text, file)
      fflush(file)
    }
  }

  public static let standardOutput = Output.stream(stdout)
  public static let standardError = Output.stream(stderr)

  public func write(_ text: String) { writeText(text) }
  public func line(_ text: String = "") { writeText(text + "\n") }

  /// The terminal's width in columns (80 when it cannot be asked).
  public var columns: Int { width() ?? 80 }

  /// This output with every write wrapped by `status`: a progress bar shown there is erased before the text
  /// and drawn again after it.
  func sharing(_ status: StatusLine) -> Output {
    Output(isTerminal: isTerminal, columns: width) { [self] text in
      status.around(endsLine: text.hasSuffix("\n")) { self.write(text) }
    }
  }
}

/// The width of the terminal on `descriptor` (TIOCGWINSZ), else $COLUMNS, else nil.
func terminalColumns(_ descriptor: Int32) -> Int? {
  var size = winsize()
  if ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
  return ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
}

/// Collects output in memory (tests, `help --markdown` into a file). `isTerminal` and `columns` make it stand in
/// for a terminal of that width.
public final class CapturedOutput: @unchecked Sendable {
  public private(set) var text = ""
  private let isTerminal: Bool
  private let columns: Int?
  public init(isTerminal: Bool = false, columns: Int? = nil) {
    self.isTerminal = isTerminal
    self.columns = columns
  }
  public lazy var output = Output(isTerminal: isTerminal, columns: { [columns] in columns }) { [unowned self] in
    self.text += $0
  }
}
