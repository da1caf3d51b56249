import Foundation

// The terminal line a progress bar occupies. While a bar is shown, every line written to stdout or stderr
// (Output.sharing) first erases it and then draws it again below the new line, so output never lands in the
// middle of a bar and the bar stays the last line on the screen.

final class StatusLine: @unchecked Sendable {
  private let lock = NSLock()
  /// stderr as it is, without the wrapping.
  private let screen: Output
  /// The bar on screen now.
  private(set) var shown: String?

  init(screen: Output) { self.screen = screen }

  /// Draws `bar` in place of the one shown.
  func show(_ bar: String) {
    lock.lock()
    defer { lock.unlock() }
    screen.write("\r" + bar + "\u{1B}[K")
    shown = bar
  }

  /// Leaves `bar` (or the one shown) on screen as an ordinary line; nothing when no bar is shown.
  func end(with bar: String? = nil) {
    lock.lock()
    defer { lock.unlock() }
    guard let last = shown else { return }
    screen.write("\r" + (bar ?? last) + "\u{1B}[K\n")
    shown = nil
  }

  /// Runs `write` with the bar erased, and draws the bar again after a whole line.
  func around(endsLine: Bool, _ write: () -> Void) {
    lock.lock()
    defer { lock.unlock() }
    guard let bar = shown else { return write() }
    screen.write("\r\u{1B}[K")
    write()
    if endsLine {
      screen.write(bar + "\u{1B}[K")
    } else {
      shown = nil  // a partial line stays as it is; the next update draws the bar on a line of its own
    }
  }
}
