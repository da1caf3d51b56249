import CEdit
import Foundation

// The interactive line: libedit's readline emulation (line editing, history in ~/.flr_history, tab
// completion through `Completion`). When stdin is not a terminal (`flr -i < file`), plain lines with
// no prompt and no history.

final class LineEditor {
  enum Input {
    case line(String)
    /// Ctrl-C at the prompt: the line is dropped, the session goes on.
    case interrupted
    /// Ctrl-D on an empty line, or the end of the input.
    case end
  }

  private let usesTerminal: Bool
  /// Where the prompt is drawn: stdout, or stderr when stdout is redirected.
  private let screen: UnsafeMutablePointer<FILE> = isatty(1) == 1 ? stdout : stderr
  private let historyPath: String
  private var historySize: Int

  init(historySize: Int) {
    usesTerminal = isatty(0) == 1
    historyPath = (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.flr_history"
    self.historySize = historySize
    guard usesTerminal else { return }
    rl_readline_name = UnsafePointer(strdup("flr"))
    // `flr > captions.tsv` at a terminal: the prompt and echo go to stderr, the results to the file.
    rl_outstream = screen
    Completion.install()
    stifle_history(Int32(historySize))
    _ = read_history(historyPath)
  }

  func read(prompt: String) -> Input {
    guard usesTerminal else {
      guard let line = Swift.readLine(strippingNewline: true) else { return Interrupt.pending ? .interrupted : .end }
      return .line(line)
    }
    Interrupt.reset()
    guard let raw = readline(prompt) else {
      // libedit returns NULL both for end of input and for a read interrupted by our SIGINT handler.
      if Interrupt.pending {
        Interrupt.reset()
        newline()
        return .interrupted
      }
      return .end
    }
    defer { free(raw) }
    let line = String(cString: raw)
    if !line.trimmingCharacters(in: .whitespaces).isEmpty { add_history(raw) }
    return .line(line)
  }

  /// Ends the prompt's line (after Ctrl-C or Ctrl-D) on the terminal, not in redirected output.
  func newline() {
    guard usesTerminal else { return }
    fputs("\n", screen)
    fflush(screen)
  }

  /// Applies `set history_size=` and writes the history file (at exit and after each command, so a
  /// crash loses nothing).
  func save(historySize newSize: Int) {
    guard usesTerminal else { return }
    if newSize != historySize {
      historySize = newSize
      stifle_history(Int32(newSize))
    }
    _ = write_history(historyPath)
    _ = history_truncate_file(historyPath, Int32(historySize))
  }
}
