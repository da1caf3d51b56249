import Foundation

// Errors the shell reports: one line, with the place in the source when there is one.

/// Where a word came from: 1-based line and column in the text being run.
public struct SourcePosition: Equatable, Sendable, CustomStringConvertible {
  public var line: Int
  public var column: Int
  public init(line: Int, column: Int) {
    self.line = line
    self.column = column
  }
  public var description: String { "\(line):\(column)" }
}

/// A user-facing error. `position` is set for errors tied to a word of the input; scripts print
/// `FILE:LINE: message`, the interactive prompt prints `error: message`.
public struct ShellError: Error, CustomStringConvertible, Sendable {
  public enum Kind: Sendable {
    /// Bad input to the shell or a command (syntax, unknown name, bad value, missing file).
    case error
    /// The command line of `flr` itself is wrong (exit code 2).
    case usage
    /// The user pressed Ctrl-C; the command stopped at a safe point.
    case interrupted
    /// `quit`/`exit` was run: not an error, unwinds out of nested `source`s.
    case quit(code: Int32)
  }
  public var kind: Kind
  public var message: String
  public var position: SourcePosition?
  /// The script (or `<stdin>`, `<-c>`) the position is in; set by the runner of that text.
  public var file: String?

  public init(_ message: String, at position: SourcePosition? = nil, kind: Kind = .error) {
    self.kind = kind
    self.message = message
    self.position = position
  }

  /// `FILE:LINE: message` when the place is known, else the message.
  public var located: String {
    guard let file, let position else { return message }
    return "\(file):\(position.line): \(message)"
  }

  public var description: String { message }

  public static func usage(_ message: String) -> ShellError { ShellError(message, kind: .usage) }
  public static let interrupted = ShellError("interrupted", kind: .interrupted)
}

/// What a command that is declared (so that help, completion and the one-shot forms know it) but
/// whose engine has not been built yet throws. Never a silent no-op.
public func notAvailableYet(_ command: String, _ what: String) -> ShellError {
  ShellError("\(command): not available yet (\(what) is not built in this version of flr)")
}

/// One line for any error thrown by a command, whichever module it came from.
public func describeError(_ error: Error) -> String {
  if let shellError = error as? ShellError { return shellError.message }
  if let localized = error as? LocalizedError, let description = localized.errorDescription { return description }
  return String(describing: error)
}
